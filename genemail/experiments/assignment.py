"""Assign each customer of a campaign to one arm: ``segmented``, ``control`` or ``holdout``.

* ``segmented``: the email of the customer's segment adapter (the treatment);
* ``control``: the one-size-fits-all baseline email (what segmentation must beat);
* ``holdout``: no email at all (what any email must beat: incrementality).

**How.** Each customer's arm is a function of ``(experiment name, seed, customer id)`` alone: the
keyed hash ``blake2b(f"{name}|{seed}|{customer_id}")`` is read as a uniform number ``u`` in [0, 1),
and ``u < holdout`` -> holdout, ``u < holdout + control`` -> control, else segmented.

**Why a per-customer hash, not "rank each segment and cut it at exact counts".** A cut at exact
counts depends on who else is in the segment, so a re-run with a few new customers, or after a new
segmenter release moved some customers between segments, would move *existing* customers between
arms: a customer who got the segmented email could land in the holdout, contaminating both. With a
per-customer hash the arm never changes, whatever the row order, the other customers or the segment.
The hash does not look at the segment, so every segment gets each arm's fraction in expectation and
independently of every other segment: a stratified design up to binomial noise (about
``sqrt(f (1 - f) / n)`` for a segment of ``n``), which the tests bound per segment. Decisions are
made on the realized counts, so that noise costs a little power and never biases a lift.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from genemail.errors import ConfigError, config_error

SEGMENTED = "segmented"
CONTROL = "control"
HOLDOUT = "holdout"
ARMS: tuple[str, ...] = (SEGMENTED, CONTROL, HOLDOUT)
MAX_NAME_CHARS = 100
# Names become folder names in the results dataset repo: keep them to what a path segment allows.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,%d}" % (MAX_NAME_CHARS - 1))
_DIGEST_BYTES = 8  # 64 bits: ties between customers are practically impossible


@dataclass(frozen=True)
class ExperimentConfig:
    """An experiment: its name, the control and holdout fractions, and the assignment seed.

    ``control`` and ``holdout`` are fractions of the customers in [0, 1), ``control + holdout < 1``
    (the rest get the segmented email). The same name and seed always give the same arms.
    """

    name: str
    control: float = 0.2
    holdout: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise config_error("name", self.name, f"letters, digits, '.', '_' or '-' (at most {MAX_NAME_CHARS}, "
                                                  "starting with a letter or digit), e.g. spring-2025")
        for field_name in ("control", "holdout"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1 \
                    or math.isnan(value):
                raise config_error(field_name, value, "a fraction in [0, 1), e.g. 0.2")
        if self.control + self.holdout >= 1:
            raise ConfigError(
                f"control={self.control!r} + holdout={self.holdout!r} leaves no customer for the segmented arm",
                where="ExperimentConfig", fix="pass control + holdout below 1, e.g. control=0.2, holdout=0.1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise config_error("seed", self.seed, "an integer")

    @property
    def fractions(self) -> dict[str, float]:
        """The expected share of each arm (sums to 1)."""
        return {SEGMENTED: 1.0 - self.control - self.holdout, CONTROL: float(self.control),
                HOLDOUT: float(self.holdout)}


def arm_uniform(config: ExperimentConfig, customer_id: str) -> float:
    """The customer's uniform draw in [0, 1): the keyed hash of ``name|seed|customer_id``."""
    key = f"{config.name}|{config.seed}|{customer_id}".encode("utf-8")
    digest = hashlib.blake2b(key, digest_size=_DIGEST_BYTES).digest()
    return int.from_bytes(digest, "big") / 2.0 ** (8 * _DIGEST_BYTES)


def arm_of(config: ExperimentConfig, customer_id: str) -> str:
    """The arm of one customer (the same answer on every call, machine and Python version)."""
    u = arm_uniform(config, customer_id)
    if u < config.holdout:
        return HOLDOUT
    if u < config.holdout + config.control:
        return CONTROL
    return SEGMENTED


def assign_arms(customer_ids: Sequence[str], segments: Sequence[str], config: ExperimentConfig) -> list[str]:
    """The arm of each customer, in the order given.

    ``segments`` (each customer's L2 segment) must align with ``customer_ids``; the draw does not
    use it (see the module docstring), so a customer keeps its arm if it changes segment. Customer
    ids must be unique: one customer, one arm.
    """
    if not isinstance(config, ExperimentConfig):
        raise config_error("config", config, "a genemail.experiments.ExperimentConfig")
    ids = [str(c) for c in customer_ids]
    if len(ids) != len(segments):
        raise ConfigError(f"{len(ids)} customer ids but {len(segments)} segments", where="assign_arms",
                          fix="pass one segment per customer, in the same order")
    seen: set[str] = set()
    for position, (customer_id, segment) in enumerate(zip(ids, segments)):
        if not customer_id.strip():
            raise ConfigError(f"customer id at position {position} is empty", where="assign_arms",
                              fix="give every customer a non-empty id")
        if customer_id in seen:
            raise ConfigError(f"customer id {customer_id!r} appears twice (position {position})",
                              where="assign_arms", fix="de-duplicate the customer table first")
        if not isinstance(segment, str) or not segment:
            raise ConfigError(f"segment {segment!r} of customer {customer_id!r} is invalid", where="assign_arms",
                              fix="pass each customer's L2 segment name (cold start included)")
        seen.add(customer_id)
    return [arm_of(config, customer_id) for customer_id in ids]
