"""``python -m genemail.hub.server``: the same server as ``genemail hub serve``, with a lighter start-up.

It imports only the server (not every CLI stage), which is what test fixtures want.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genemail.errors import GenEmailError


def main(argv: list[str] | None = None) -> int:
    """Parse the ``serve`` options and run the server in the foreground."""
    from genemail.hub.server.auth import collect_tokens
    from genemail.hub.server.body import DEFAULT_MAX_COMMIT_BYTES, DEFAULT_MAX_REQUEST_BYTES, MIB
    from genemail.hub.server.runner import ServeConfig, serve

    parser = argparse.ArgumentParser(prog="python -m genemail.hub.server", description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", action="append", default=[])
    parser.add_argument("--tokens-file", type=Path)
    parser.add_argument("--max-commit-mb", type=float, default=DEFAULT_MAX_COMMIT_BYTES / MIB,
                        help="largest commit body in MiB (file contents base64-encoded: ~4/3 of their size); "
                             "default %(default)g")
    parser.add_argument("--max-request-mb", type=float, default=DEFAULT_MAX_REQUEST_BYTES / MIB,
                        help="largest body of any other request in MiB; default %(default)g")
    parser.add_argument("--test-commit-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = ServeConfig(root=args.root, tokens=collect_tokens(args.token, args.tokens_file),
                             host=args.host, port=args.port, commit_delay=args.test_commit_delay,
                             max_commit_bytes=round(args.max_commit_mb * MIB),
                             max_request_bytes=round(args.max_request_mb * MIB))
        serve(config)
    except GenEmailError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
