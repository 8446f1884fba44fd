"""``python -m genemail`` is the ``genemail`` command."""

from genemail.cli import main

if __name__ == "__main__":
    main()
