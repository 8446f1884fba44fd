"""``python -m training.publish --artifacts DIR --namespace NS --tag TAG [--private]``.

The same as ``genemail publish``: pushes every artifact and a release repo pinning them. Endpoint and
token come from ``HF_ENDPOINT`` / ``HF_TOKEN`` (unset ``HF_ENDPOINT`` = the real Hub).
"""

from __future__ import annotations

import sys

from genemail.cli import run


def main(argv: list[str] | None = None) -> int:
    """Run ``genemail publish`` with ``argv`` and return its exit code."""
    return run(["publish", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
