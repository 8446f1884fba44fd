"""Guardrail metrics: a click win that costs unsubscribes or spam complaints is not a win.

For each guardrail metric the report computes ``delta`` = segmented rate - control rate with the
report's interval (always-valid or fixed, regression-adjusted when the send log has covariates). The
guardrail is **breached** when the whole interval lies above the metric's non-inferiority margin,
i.e. the data show the segmented arm raises the rate by more than the margin the team tolerates.
With the default margin 0 that is any significant increase (as GrowthBook and Statsig flag
guardrails); a team that accepts, say, 0.1 points more unsubscribes passes
``--guardrail-margin unsubscribe=0.001``. Guardrails are not adjusted for multiplicity: for a safety
check, an extra alarm is cheaper than a missed one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from genemail.errors import ConfigError
from genemail.experiments.events import COMPLAINT, EVENT_TYPES, UNSUBSCRIBE

DEFAULT_MARGINS: dict[str, float] = {UNSUBSCRIBE: 0.0, COMPLAINT: 0.0}


@dataclass(frozen=True)
class GuardrailConfig:
    """Guardrail metric -> non-inferiority margin (absolute change of the rate tolerated, >= 0)."""

    margins: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MARGINS))

    def __post_init__(self) -> None:
        for metric, margin in self.margins.items():
            if metric not in EVENT_TYPES:
                raise ConfigError(f"guardrail metric {metric!r} is unknown", where="--guardrail-margin",
                                  fix=f"use one of {', '.join(EVENT_TYPES)}, e.g. unsubscribe=0.001")
            if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1 \
                    or math.isnan(margin):
                raise ConfigError(f"margin {margin!r} of {metric} is invalid", where="--guardrail-margin",
                                  fix="pass an absolute rate change in [0, 1), e.g. unsubscribe=0.001 for 0.1 points")

    @classmethod
    def parse(cls, items: list[str] | None) -> "GuardrailConfig":
        """From ``METRIC=MARGIN`` strings (the CLI's ``--guardrail-margin``), on top of the defaults."""
        margins = dict(DEFAULT_MARGINS)
        for item in items or []:
            metric, sep, value = item.partition("=")
            try:
                margins[metric.strip()] = float(value)
            except ValueError:
                raise ConfigError(f"{item!r} is not METRIC=MARGIN", where="--guardrail-margin",
                                  fix="write e.g. --guardrail-margin unsubscribe=0.001") from None
            if not sep:
                raise ConfigError(f"{item!r} is not METRIC=MARGIN", where="--guardrail-margin",
                                  fix="write e.g. --guardrail-margin unsubscribe=0.001")
        return cls(margins=margins)


def breached(ci_low: float | None, margin: float) -> bool:
    """Whether a guardrail's interval lies wholly above its margin (no interval: not breached)."""
    return ci_low is not None and ci_low > margin
