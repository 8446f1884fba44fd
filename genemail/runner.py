"""Run a typer app so that no user ever sees a traceback.

* usage errors (missing or unknown options, bad values, unreadable files): typer's own usage
  message and exit 2, as every command-line tool does;
* user errors (:class:`genemail.errors.GenEmailError`): one readable "what, where, fix" message, exit 2;
* operating-system errors on a file (no permission, a directory, a full disk): the file and the reason, exit 2;
* Ctrl-C: "aborted", exit 130;
* anything else is a bug: one line saying so and where its traceback was written, exit 1.

Every ``genemail`` command and every ``python -m training.*`` script runs through :func:`run_typer`.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path

import typer

from genemail.errors import GenEmailError


def run_typer(app: typer.Typer, argv: list[str] | None, prog_name: str) -> int:
    """Run ``app`` with ``argv`` and return the exit code (0 ok, 2 usage or user error, 130 aborted)."""
    try:
        # standalone mode: typer formats usage errors itself (usage line, "Error: ...", exit 2)
        app(args=argv, prog_name=prog_name, standalone_mode=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except GenEmailError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
    except OSError as err:  # unreadable, missing or full: the file and the reason, not a traceback
        print(f"error: {_os_error(err)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: keep the traceback for the report, show the user one line
        print(f"error: unexpected {type(exc).__name__}: {_first_line(exc)}. This is a bug in GenEmail; "
              f"the details are in {_save_traceback(prog_name)}. Please report it with that file.", file=sys.stderr)
        return 1
    return 0


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # SystemExit("message") prints its message, like Python does
    return 1


def _os_error(err: OSError) -> str:
    where = f"{err.filename}: " if err.filename else ""
    reason = err.strerror or str(err)
    return (f"{where}{reason}. Fix: check that the path exists and is readable (or writable, for an output) "
            "by this user, and that the disk is not full.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0][:300] if text else "(no message)")


def _save_traceback(prog_name: str) -> Path:
    handle = tempfile.NamedTemporaryFile("w", prefix="genemail-error-", suffix=".log", delete=False,
                                         encoding="utf-8")
    with handle:
        handle.write(f"{prog_name} {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    return Path(handle.name)
