"""The library stands without its checkout: a regular (non-editable) install publishes and runs a campaign.

``pip install`` builds a wheel of the project into a fresh virtual environment; the commands then run
from a folder outside the checkout, so nothing can be read from the source tree (card templates and
the strategies file must be package data) and nothing may import the ``training`` scripts. The card
templates live in the top-level ``hub_cards/`` and the build maps them into the package: the installed
copy must be those files, and the published cards must be rendered from them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.fixtures.net import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_no_library_module_imports_the_training_scripts() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+training\b", re.MULTILINE)
    offenders = [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "genemail").rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with genemail installed from the checkout (not editable); its ``bin`` folder.

    The heavy dependencies (torch, transformers, ...) come from the test environment through a
    ``.pth`` line, so nothing is downloaded; genemail itself only from the wheel pip builds. pip builds
    in the source folder, so it builds from a copy: a stale ``build/`` of the checkout could otherwise
    slip files into the wheel, and the checkout gets no ``build/`` or ``egg-info`` from a test run.
    """
    source = tmp_path_factory.mktemp("source") / "genemail"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "dist", "artifacts", "out",
                                                                      "*.egg-info", "__pycache__"))
    venv = tmp_path_factory.mktemp("install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "_genemail_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    build = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                            "--no-index", "--quiet", str(source)], capture_output=True, text=True, timeout=600,
                           cwd=venv.parent)
    assert build.returncode == 0, build.stderr
    return venv / "bin"


@pytest.mark.integration
def test_a_regular_install_publishes_and_runs_a_campaign(installed: Path, app_release, synthetic_raw_csv,
                                                         tmp_path: Path) -> None:
    from genemail.hub.server.runner import ServeConfig, start_process

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    art = app_release.artifacts  # a complete tiny release: every segment's adapter and the baseline
    token = "hf_carol_install_test"
    server = start_process(ServeConfig(root=tmp_path / "hub", tokens={"carol": token}, port=free_port()))
    env = {**os.environ, "HF_ENDPOINT": server.endpoint, "HF_TOKEN": token, "PYTHONPATH": "",
           "HF_HOME": str(tmp_path / "hf")}
    try:
        _publish_and_campaign(installed, art, synthetic_raw_csv, outside, env)
        card = _download(server.endpoint, "carol/genemail-segmenter", "README.md", tmp_path / "hf-card")
        release_card = _download(server.endpoint, "carol/genemail-release", "README.md", tmp_path / "hf-card")
    finally:
        server.stop()
    # The published cards came from hub_cards/: the templates' own headings and wording, not a stand-in.
    assert "# GenEmail customer segmenter" in card and "Part of a GenEmail release" in card
    assert "# GenEmail release" in release_card and "`release.json` pins every artifact" in release_card
    assert "Renders:" not in card + release_card  # the templates' header comments are not rendered


def _download(endpoint: str, repo_id: str, filename: str, cache: Path) -> str:
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(repo_id, filename, revision="install-test", endpoint=endpoint, cache_dir=cache)
    return Path(path).read_text(encoding="utf-8")


def test_a_regular_install_carries_the_hub_cards_templates(installed: Path, tmp_path: Path) -> None:
    """The wheel maps hub_cards/ into the package: the installed library reads that copy, byte for byte."""
    env = {**os.environ, "PYTHONPATH": ""}
    code = "from genemail.resources import cards_dir; print(cards_dir())"
    out = subprocess.run([str(installed / "python"), "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    packaged = Path(out.stdout.strip())
    assert packaged.is_relative_to(installed.parent) and packaged.name == "hub_cards", packaged
    source = {p.name: p.read_bytes() for p in (REPO_ROOT / "hub_cards").glob("*.md")}
    assert source and {p.name: p.read_bytes() for p in packaged.glob("*.md")} == source


def _publish_and_campaign(installed: Path, art: Path, customers: Path, outside: Path, env: dict[str, str]) -> None:
    where = subprocess.run([str(installed / "python"), "-c", "import genemail, sys; print(genemail.__file__)"],
                           capture_output=True, text=True, env=env, cwd=outside, timeout=60)
    assert where.returncode == 0 and str(installed.parent) in where.stdout  # the wheel, not the checkout

    publish = subprocess.run([str(installed / "genemail"), "publish", "--artifacts", str(art), "--namespace", "carol",
                              "--tag", "install-test"], capture_output=True, text=True, env=env, cwd=outside,
                             timeout=600)
    assert publish.returncode == 0, publish.stderr
    assert "tagged install-test" in publish.stdout

    out = outside / "emails.jsonl"
    campaign = subprocess.run([str(installed / "genemail"), "campaign", "--artifacts", str(art), "--data",
                               str(customers), "--out", str(out), "--max-new-tokens", "4",
                               "--batch-size", "64"], capture_output=True, text=True, env=env, cwd=outside,
                              timeout=600)
    assert campaign.returncode == 0, campaign.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows and all(r["adapter"] and r["strategy"] for r in rows)
    assert "Traceback" not in campaign.stderr + publish.stderr
