"""The gate's likelihood fluency check, on a model that knows a handful of emails (trained here in seconds).

A micro causal LM learns eight of one segment's template emails. What it writes itself, and the emails it
learned, must pass the likelihood check with the default thresholds; the same emails spliced, shuffled or
with a clause doubled must fail it, by the likelihood reason itself (not only by the repeated-phrase
check). The log-probabilities ``generate`` returns must be the model's raw ones: equal to a teacher-forced
pass over the same tokens, whatever the sampling temperature. tests/test_serve_logprobs.py carries them
through ``genemail serve`` and the OpenAI backend.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from genemail.errors import ConfigError
from genemail.generation.gate import GateConfig, QualityGate
from genemail.generation.generator import BASE_ROW, EmailGenerator, GenerationConfig
from genemail.generation.likelihood import LIKELIHOOD, VOICE, fluency_for_parameters, likelihood_failures, score
from genemail.generation.modeling import SMALL_MODEL_PARAMETERS
from genemail.generation.prompts import CustomerProfile
from genemail.generation.slots import PLACEHOLDER_OF, available_slots
from genemail.generation.strategies import load_strategies
from genemail.generation.templates import variant_combinations, write_template
from genemail.generation.writer import Row, write_checked
from genemail.taxonomy import REGULAR_ACTIVE
from tests.fixtures.models import train_tiny_lm

PROMPT = "邮件："
BOOK = load_strategies()
STRATEGY = BOOK.for_segment(REGULAR_ACTIVE)
PROFILE = CustomerProfile(customer_id="c1", age=40, children=0, kid_age="none", recency=10, income=50_000.0,
                          favourite_category="wines", tenure_days=500)
GATE = QualityGate(BOOK, "zh")


def _emails(n: int = 8) -> list[str]:
    """``n`` of the segment's template emails this customer can get (distinct bodies where possible)."""
    facts = {PLACEHOLDER_OF[s] for s in available_slots(PROFILE)}
    combos = variant_combinations(STRATEGY.text("zh").variants, facts)
    return sorted({write_template(STRATEGY, "zh", c) for c in random.Random(0).sample(combos, n)})


EMAILS = _emails()


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> EmailGenerator:
    """The trained micro model, its emails checked by likelihood (the override: it is small)."""
    folder = train_tiny_lm(EMAILS, tmp_path_factory.mktemp("likelihood") / "model", PROMPT)
    generator = EmailGenerator.load(folder, [])
    generator.fluency = LIKELIHOOD
    return generator


def teacher_forced(gen: EmailGenerator, ids: list[int]) -> list[float]:
    """The model's log-probability of each of ``ids`` after the prompt, from one forward pass."""
    import torch

    prompt = gen.tokenizer(PROMPT)["input_ids"]
    with torch.no_grad():
        logits = gen.model(torch.tensor([prompt + ids])).logits[0]
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    return [logprobs[len(prompt) - 1 + i, t].item() for i, t in enumerate(ids)]


def scored(gen: EmailGenerator, text: str) -> list[float]:
    return teacher_forced(gen, gen.tokenizer(text)["input_ids"])


def check(text: str, logprobs: list[float] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    verdict, _ = GATE.check(text, PROFILE, STRATEGY, "segmented", fluency=LIKELIHOOD, logprobs=logprobs)
    return verdict.failed, verdict.reasons


# ------------------------------------------------------------------ the log-probabilities generate returns

@pytest.mark.integration
@pytest.mark.parametrize("config", [
    GenerationConfig(max_new_tokens=80, logprobs=True),
    GenerationConfig(max_new_tokens=80, do_sample=True, temperature=1.7, seed=3, logprobs=True),
], ids=["greedy", "sampled-hot"])
def test_generate_returns_the_raw_log_probability_of_each_written_token(gen: EmailGenerator,
                                                                        config: GenerationConfig) -> None:
    rows = gen.complete([PROMPT] * 3, [BASE_ROW] * 3, config)
    for row in rows:
        assert row.logprobs is not None and len(row.logprobs) == len(row.token_ids) == row.new_tokens > 5
        # not temperature-scaled: at T=1.7 the sampler's own log-probabilities would differ by far more
        assert row.logprobs == pytest.approx(teacher_forced(gen, list(row.token_ids)), abs=1e-4)
    assert gen.complete([PROMPT], [BASE_ROW], GenerationConfig(max_new_tokens=8))[0].logprobs is None


@pytest.mark.integration
def test_row_seeded_sampling_returns_raw_log_probabilities_too(gen: EmailGenerator) -> None:
    config = GenerationConfig(max_new_tokens=80, do_sample=True, temperature=0.7, logprobs=True)
    rows = gen.complete([PROMPT] * 4, [BASE_ROW] * 4, config, row_seeds=[11, 12, 13, 14])
    for row in rows:
        assert row.logprobs == pytest.approx(teacher_forced(gen, list(row.token_ids)), abs=1e-4)


# ------------------------------------------------------------------ what passes and what fails

@pytest.mark.integration
def test_the_models_own_and_reference_emails_pass(gen: EmailGenerator) -> None:
    config = GenerationConfig(max_new_tokens=100, do_sample=True, temperature=0.7, logprobs=True)
    rows = gen.complete([PROMPT] * 12, [BASE_ROW] * 12, config, row_seeds=list(range(12)))
    for row in rows:
        assert check(row.text, list(row.logprobs or ())) == ((), ()), row.text
    for email in EMAILS:
        failed, reasons = check(email, scored(gen, email))
        assert failed == (), (email, reasons)


def _spliced(rng: random.Random) -> str:
    a, b = rng.sample(EMAILS, 2)
    return a[:rng.randrange(8, len(a) - 10)] + b[rng.randrange(8, len(b) - 10):]


def _clauses(email: str) -> list[str]:
    return [c for c in re.split(r"(?<=[，。！：])", email) if c]


def _shuffled(rng: random.Random) -> str:
    clauses = _clauses(rng.choice(EMAILS))
    while "".join(clauses) in EMAILS:
        rng.shuffle(clauses)
    return "".join(clauses)


def _doubled(rng: random.Random) -> str:
    clauses = _clauses(rng.choice(EMAILS))
    k = rng.randrange(len(clauses))
    return "".join(clauses[:k + 1] + clauses[k:])


@pytest.mark.integration
@pytest.mark.parametrize("broken", [_spliced, _shuffled, _doubled], ids=["spliced", "shuffled", "doubled"])
def test_spliced_shuffled_and_doubled_emails_fail_by_likelihood(gen: EmailGenerator, broken) -> None:
    rng = random.Random(7)
    for _ in range(12):
        text = broken(rng)
        failed, reasons = check(text, scored(gen, text))
        assert "fluency" in failed and any("unlikely" in r for r in reasons), (text, reasons)


@pytest.mark.integration
def test_every_email_is_written_through_the_likelihood_check(gen: EmailGenerator) -> None:
    config = GenerationConfig(max_new_tokens=100, do_sample=True, temperature=0.7, seed=5)
    rows = [Row(PROMPT, BASE_ROW, PROFILE, STRATEGY, "segmented")] * 4
    written = write_checked(gen, rows, config, GATE)
    assert [w.qa.status for w in written] == ["passed"] * 4 and all(w.qa.attempts == 1 for w in written)

    class Silent:  # a backend that writes the same emails but returns no log-probabilities
        fluency_mode = LIKELIHOOD

        def complete(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return [type(c)(c.text, c.new_tokens) for c in gen.complete(*args, **kwargs)]

    refused = write_checked(Silent(), rows, config, GATE)
    assert {w.qa.status for w in refused} == {"fallback"}  # never passed unchecked
    assert all("no token log-probabilities" in " ".join(w.qa.reasons) for w in refused)


def test_no_log_probabilities_fail_loudly() -> None:
    for missing in (None, []):
        failed, reasons = check(EMAILS[0], missing)
        assert failed == ("fluency",) and "no token log-probabilities" in reasons[0]


# ------------------------------------------------------------------ the mode, the numbers, the config

def test_the_embedded_kind_of_model_is_checked_by_voice_a_real_one_by_likelihood(tiny_base_model_dir: Path) -> None:
    generator = EmailGenerator.load(tiny_base_model_dir, [])
    assert generator.base_parameters() < SMALL_MODEL_PARAMETERS and generator.fluency_mode == VOICE
    generator.fluency = LIKELIHOOD
    assert generator.fluency_mode == LIKELIHOOD
    assert fluency_for_parameters(SMALL_MODEL_PARAMETERS) == LIKELIHOOD
    assert fluency_for_parameters(None) == LIKELIHOOD  # a server that does not say is serving a real model
    with pytest.raises(ConfigError, match="fluency"):
        EmailGenerator(None, None, "x", fluency="loose")


def test_voice_mode_asks_for_no_log_probabilities(tiny_base_model_dir: Path) -> None:
    generator = EmailGenerator.load(tiny_base_model_dir, [])
    asked: list[bool] = []
    complete = generator.complete

    def spy(prompts, adapters, config, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        asked.append(config.logprobs)
        return complete(prompts, adapters, config, *args, **kwargs)

    generator.complete = spy  # type: ignore[method-assign]
    row = Row(PROMPT, BASE_ROW, PROFILE, STRATEGY, "segmented")
    write_checked(generator, [row], GenerationConfig(max_new_tokens=4), GATE)
    assert asked and not any(asked)


def test_score_finds_the_worst_window() -> None:
    found = score([-0.1, -0.1, -9.0, -0.1, -0.1], window_tokens=2)
    assert found.mean_nll == pytest.approx(9.4 / 5) and found.worst_window_nll == pytest.approx(4.55)
    assert found.worst_window_start == 1
    assert score([-1.0], window_tokens=4).worst_window_nll == pytest.approx(1.0)  # shorter than the window
    assert score([-0.1, float("-inf"), -0.1], window_tokens=2).worst_window_nll == float("inf")
    limits = {"max_mean_nll": 3.0, "max_window_nll": 4.5, "window_tokens": 2}
    assert likelihood_failures([-0.1] * 10, **limits) == []
    assert "unlikely stretch" in likelihood_failures([-0.1, -0.1, -9.0, -0.1], **limits)[0]
    assert "on average" in likelihood_failures([-3.5] * 10, **limits)[0]
    assert "not a number" in likelihood_failures([-0.1, float("nan")], **limits)[0]


@pytest.mark.parametrize(("field", "value"), [
    ("max_mean_nll", 0), ("max_mean_nll", "3"), ("max_window_nll", -1.0), ("max_window_nll", 100.0),
    ("window_tokens", 0), ("window_tokens", 2.5), ("window_tokens", True),
])
def test_gate_config_errors_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        GateConfig(**{field: value})


def test_an_unknown_fluency_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="fluency"):
        GATE.check(EMAILS[0], PROFILE, STRATEGY, "segmented", fluency="loose")
