"""Read a campaign's emails back: false facts, merge tags left, distinct emails, the gate's verdicts.

    python -m training.check_campaign --emails emails.jsonl --data customers.csv [--strategies FILE] [--lang zh]

A thin command line over :mod:`genemail.evaluation.sent`: ``--emails`` is what ``genemail campaign``
wrote, ``--data`` the customer file it was run on. Prints one JSON object (rates with 95% Wilson
intervals) per variant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from genemail.runner import run_typer

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, help=__doc__)
PROG = "python -m training.check_campaign"


@app.command()
def check(
    emails: Annotated[Path, typer.Option(help="The campaign's JSONL (genemail campaign --out).", exists=True,
                                         dir_okay=False)],
    data: Annotated[Path, typer.Option(help="The customer file the campaign was run on.", exists=True,
                                       dir_okay=False)],
    strategies: Annotated[Path | None, typer.Option(help="Strategies file (default: the packaged one).")] = None,
    lang: Annotated[str, typer.Option(help="Language of the emails: zh or en.")] = "zh",
) -> None:
    """Print what the campaign sent, checked against the customer records."""
    from genemail.data import load_customers
    from genemail.errors import DataError
    from genemail.evaluation.sent import check_sent
    from genemail.generation.prompts import profile_from_row
    from genemail.generation.strategies import load_strategies

    profiles = {str(r["customer_id"]): profile_from_row(r) for r in load_customers(data).frame.to_dict("records")}
    rows = []
    for number, line in enumerate(emails.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not JSON ({exc.msg})", where=f"{emails}, line {number}",
                            fix="pass the JSONL file genemail campaign wrote") from None
        if str(row.get("customer_id")) not in profiles:
            raise DataError(f"customer {row.get('customer_id')!r} is not in the customer file", where=f"{emails}, line {number}",
                            fix="pass the customer file the campaign was run on as --data")
        rows.append(row)
    typer.echo(json.dumps(check_sent(rows, profiles, load_strategies(strategies), lang), ensure_ascii=False, indent=2))


def main(argv: list[str] | None = None) -> int:
    """Run the command; usage and user errors print a message and return 2 (no traceback)."""
    return run_typer(app, argv, PROG)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
