"""Serving-time use of a loaded user vector: customers (and their events) -> one soft prompt each.

The app and ``genemail campaign --user-embedding`` call :func:`soft_prompts_for_frame`. With an events
file its events are used; without one the events are synthesized from the table's own sums
(:mod:`genemail.behaviour.synth_events`, seeded per customer), so the vector sees exactly what the table
says, spread over time. Cold-start customers (no behaviour to speak of) still get a vector of what
little there is; the generator uses it only on segmented rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from genemail.user_vector.encoder import UserVectorModel


@dataclass(frozen=True)
class SoftPrompts:
    """One (k, H) soft prompt per customer row, and how long encoding took."""

    prompts: list[Any]
    seconds: float
    events_source: str  # "file" or "synthesized from the table"


def soft_prompts_for_frame(model: "UserVectorModel", frame: "pd.DataFrame", reference_date: Any,
                           events: "pd.DataFrame | None" = None, seed: int = 0) -> SoftPrompts:
    """Soft prompts for every row of a cleaned customer table (internal schema), in row order."""
    from genemail.user_vector.data import customer_set
    from genemail.user_vector.training import soft_prompts_for

    t0 = time.perf_counter()
    data = customer_set(frame, reference_date, seed, events)
    prompts = soft_prompts_for(model, data.feature_matrix(model.config.feature_names))
    return SoftPrompts(prompts, round(time.perf_counter() - t0, 4),
                       "file" if events is not None else "synthesized from the table")
