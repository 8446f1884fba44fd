"""Build-time layout (everything else about the build is in pyproject.toml).

The Hub card templates live in the top-level ``hub_cards/`` folder, and a regular install must still
carry them: the build maps that folder into the package as ``genemail.hub_cards`` (installed as
``genemail/hub_cards/*.md``). pyproject.toml's ``packages.find`` only lists packages where they lie,
so the package list is made here: every ``genemail`` package plus that mapped one.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["genemail", "genemail.*"]), "genemail.hub_cards"],
    package_dir={"genemail.hub_cards": "hub_cards"},
    package_data={"genemail": ["resources/*.yaml"], "genemail.hub_cards": ["*.md"]},
)
