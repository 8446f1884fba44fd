"""A customer table to look customers up in by ID (the app's demo customers), and the new-customer form.

Both go through the loader's cleaning (:func:`genemail.data.loader.clean_frame`), so a row looked up
here or typed into the form has exactly the internal schema a file would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# The PRD schema's fields, in the order the app's new-customer form asks for them.
FORM_FIELDS: tuple[str, ...] = ("Age", "Gender", "Education", "Marital_Status", "Income", "KidAge", "Familysize",
                                "Recency")


class CustomerTable:
    """Customers in the internal schema, indexed by ``customer_id`` (as text)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        frame = frame.reset_index(drop=True)
        frame.index = frame["customer_id"].astype(str)
        self.frame = frame

    @classmethod
    def load(cls, path: Path | None, *, n_synthetic: int = 500, seed: int = 0) -> CustomerTable:
        """The customers of ``path`` (CSV/Parquet), or ``n_synthetic`` seeded synthetic ones when None."""
        from genemail.data.loader import clean_frame, load_customers

        if path is not None:
            return cls(load_customers(path).frame)
        from genemail.data.synth import synthesize

        return cls(clean_frame(synthesize(n_synthetic, seed=seed), source="synthetic customers").frame)

    def __len__(self) -> int:
        return len(self.frame)

    def ids(self, limit: int | None = None) -> list[str]:
        """Customer IDs in file order (the first ``limit``)."""
        ids = self.frame.index.tolist()
        return ids[:limit] if limit else ids

    def row(self, customer_id: str) -> pd.DataFrame:
        """A one-row frame for ``customer_id``; :class:`DataError` when unknown."""
        key = str(customer_id or "").strip()
        if not key or key not in self.frame.index:
            sample = ", ".join(self.ids(3))
            raise DataError(f"unknown customer ID {key!r}", where="customer table",
                            fix=f"pick an ID from the list (e.g. {sample}) or fill the new-customer form")
        return self.frame.loc[[key]].reset_index(drop=True)


def form_customer(fields: Mapping[str, Any]) -> pd.DataFrame:
    """Clean a new-customer form (PRD schema: Age, Gender, Education, ...) into one internal row.

    Blank fields stay missing: a customer with too little data gets the cold-start segment.
    """
    import pandas as pd

    from genemail.data.loader import clean_frame

    row: dict[str, Any] = {"ID": str(fields.get("ID") or "new-customer")}
    for column in FORM_FIELDS:
        value = fields.get(column)
        row[column] = None if value in ("", None) else value
    return clean_frame(pd.DataFrame([row]), source="new-customer form").frame.reset_index(drop=True)
