"""Customer data: load (CSV/Parquet, PRD or Kaggle schema), clean visibly, synthesize, compare.

Public API (other stages code against these names)::

    load_customers(path, *, reference_date=None) -> LoadResult        # .frame, .report, .source_schema
    iter_customer_chunks(path, *, chunksize=100_000, reference_date=None) -> Iterator[LoadResult]
    clean_frame(raw_df, *, reference_date=None) -> LoadResult           # an in-memory raw table
    synthesize(n, seed) -> pd.DataFrame                                 # raw Kaggle schema
    synthesize_prd(n, seed) -> pd.DataFrame                             # the PRD's sample format
    write_synthetic(n, seed, path, *, schema="kaggle") -> Path

The names are re-exported lazily (PEP 562, as ``huggingface_hub`` does): importing
``genemail.data.schema`` or the CLI does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "CleaningAction": "cleaning",
    "CleaningConfig": "cleaning",
    "CleaningReport": "cleaning",
    "compare_files": "compare",
    "compare_frames": "compare",
    "format_comparison": "compare",
    "LoadResult": "loader",
    "clean_frame": "loader",
    "iter_customer_chunks": "loader",
    "load_customers": "loader",
    "KAGGLE_COLUMNS": "synth",
    "PRD_COLUMNS": "synth",
    "synthesize": "synth",
    "synthesize_prd": "synth",
    "to_prd_schema": "synth",
    "write_synthetic": "synth",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # static tools see the real names
    from genemail.data.cleaning import CleaningAction, CleaningConfig, CleaningReport
    from genemail.data.compare import compare_files, compare_frames, format_comparison
    from genemail.data.loader import LoadResult, clean_frame, iter_customer_chunks, load_customers
    from genemail.data.synth import (
        KAGGLE_COLUMNS, PRD_COLUMNS, synthesize, synthesize_prd, to_prd_schema, write_synthetic,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'genemail.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"genemail.data.{_EXPORTS[name]}"), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
