"""Segment names, the L1 -> L2 hierarchy and the languages: the vocabulary every stage shares.

This module is the single source of truth for names. The business *rules* that assign them live in
``genemail.segmentation.rules``; the per-segment communication strategies in
``genemail/resources/strategies.yaml``.
"""

from __future__ import annotations

# Languages that prompts, strategies and emails are written in (strategies.yaml has a block for each).
LANGS: tuple[str, ...] = ("zh", "en")

# L1 value tiers, highest first. Tiers are found by clustering and named by ordering centroids.
L1_TIERS: tuple[str, ...] = ("High", "Mid", "Low")

# L2 sub-segments (PRD FR-9).
HIGHVALUE_ACTIVE = "HighValue_Active"
PARENT_ACTIVE = "Parent_Active"
REGULAR_ACTIVE = "Regular_Active"
NEED_REENGAGEMENT = "Need_Reengagement"
DORMANT = "Dormant"
L2_SEGMENTS: tuple[str, ...] = (
    HIGHVALUE_ACTIVE,
    PARENT_ACTIVE,
    REGULAR_ACTIVE,
    NEED_REENGAGEMENT,
    DORMANT,
)

# Customers with too little data: explicit segment, default strategy, reason shown to the user.
COLD_START = "Cold_Start"
# The PRD v1.0 one-size-fits-all model: one adapter trained on every customer, no segment info.
BASELINE = "baseline"

# Which L2 segments each L1 tier may contain. Activity states (re-engagement, dormant) span every
# tier on purpose: lapsing is orthogonal to value, and a lapsed high-value customer must still be
# won back (the tier then scales the offer). Active segments belong to exactly one branch.
HIERARCHY: dict[str, tuple[str, ...]] = {
    "High": (HIGHVALUE_ACTIVE, NEED_REENGAGEMENT, DORMANT),
    "Mid": (PARENT_ACTIVE, REGULAR_ACTIVE, NEED_REENGAGEMENT, DORMANT),
    "Low": (PARENT_ACTIVE, REGULAR_ACTIVE, NEED_REENGAGEMENT, DORMANT),
}


def adapter_repo_name(segment: str) -> str:
    """Hub repo name of a segment's adapter: ``genemail-adapter-<segment>``, lower-case, ``-`` for ``_``."""
    return "genemail-adapter-" + segment.lower().replace("_", "-")
