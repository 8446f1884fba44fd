"""Writing through the gate: redraws of every batch are pooled into as few backend calls as possible."""

from __future__ import annotations

import random

import pytest

from genemail.generation.gate import QualityGate
from genemail.generation.generator import Completion, GenerationConfig
from genemail.generation.writer import Row, write_checked
from genemail.taxonomy import DORMANT
from tests.test_gate import BOOK, customer, reference

GATE = QualityGate(BOOK, "zh")
STRATEGY = BOOK.for_segment(DORMANT)


class Scripted:
    """A backend that writes each row's reference email, except a broken draft on its first attempt for the
    rows named in ``broken``; it records the rows of every call."""

    fluency_mode = "voice"

    def __init__(self, emails: dict[str, str], broken: set[str], first_calls: int = 1) -> None:
        self.emails, self.broken, self.first_calls, self.calls = emails, broken, first_calls, []

    def complete(self, prompts, adapters, config, soft_prompts=None, row_seeds=None):  # noqa: ANN001, ANN201
        self.calls.append(list(prompts))
        first = len(self.calls) <= self.first_calls
        return [Completion("嗨！" if first and p in self.broken else self.emails[p], 10) for p in prompts]


@pytest.mark.parametrize("sizes", [[8, 8, 8, 8], [5, 11, 16]])
def test_redraws_of_all_batches_share_one_call(sizes: list[int]) -> None:
    rng = random.Random(3)
    profiles = [customer(rng, DORMANT, i) for i in range(sum(sizes))]
    rows = [Row(f"p{i}", DORMANT, p, STRATEGY, "segmented") for i, p in enumerate(profiles)]
    emails = {r.prompt: reference(rng, DORMANT, r.profile, "zh") for r in rows}
    broken = {rows[i].prompt for i in (1, 9, 17, 25, 30)}  # in every batch
    backend = Scripted(emails, broken, first_calls=len(sizes))
    done: list[int] = []
    written = write_checked(backend, rows, GenerationConfig(do_sample=True), GATE, sizes, on_batch=done.append)
    assert [len(call) for call in backend.calls] == [*sizes, len(broken)]  # one redraw call, not one per batch
    assert done == list(range(len(sizes)))
    assert [w.qa.attempts for w in written] == [2 if r.prompt in broken else 1 for r in rows]
    assert all(w.qa.status == "passed" for w in written)
    assert [w.template for w in written] == [emails[r.prompt] for r in rows]


def test_no_rows_write_nothing() -> None:
    backend = Scripted({}, set())
    assert write_checked(backend, [], GenerationConfig(), GATE) == [] and backend.calls == []


def test_batch_sizes_must_cover_the_rows() -> None:
    row = Row("p", DORMANT, customer(random.Random(0), DORMANT, 0), STRATEGY, "segmented")
    with pytest.raises(ValueError, match="do not cover"):
        write_checked(Scripted({"p": ""}, set()), [row, row], GenerationConfig(), GATE, [1])
