"""Fluency by the model's own likelihood: the check a real model's free wording gets instead of the voice's.

The embedded default model learned the strategies' template language, so the gate's ``voice`` mode asks
every body clause to be close to a clause of that language. A real model (a Hub or local causal LM, or a
server behind the OpenAI backend) writes its own wording, which the voice check would refuse wholesale.
In ``likelihood`` mode the gate asks the model instead: each written token's log-probability under the
model's *raw* distribution (no temperature, no top-p), as the backend returned it in
:class:`~genemail.generation.generator.Completion`. An email fails when

* its mean negative log-likelihood per token is too high (the model would not write it as a whole), or
* its worst run of ``window_tokens`` consecutive tokens is too unlikely: a splice of two sentences, a
  doubled or shuffled clause, a garbled stretch, each of which is one or two tokens the model finds
  very unlikely inside otherwise ordinary text, and which a whole-email mean would dilute.

Which mode a generator uses is decided by :func:`fluency_for_parameters` (the embedded default is the
only kind of base model below :data:`~genemail.generation.modeling.SMALL_MODEL_PARAMETERS`) unless the
generator's ``fluency`` override says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from genemail.generation.modeling import SMALL_MODEL_PARAMETERS

VOICE, LIKELIHOOD = "voice", "likelihood"
FLUENCY_MODES: tuple[str, ...] = (VOICE, LIKELIHOOD)


@dataclass(frozen=True)
class LikelihoodScore:
    """An email's token log-probabilities summed up: mean NLL and worst window NLL, in nats per token."""

    tokens: int
    mean_nll: float
    worst_window_nll: float
    worst_window_start: int  # index of the first token of the worst window


def score(logprobs: Sequence[float], window_tokens: int) -> LikelihoodScore:
    """Mean NLL of ``logprobs`` and the highest mean NLL of any ``window_tokens`` consecutive tokens.

    An email shorter than the window is one window. ``-inf`` (a token the model gave no probability, as
    some servers report it) stays infinite, so it fails any finite threshold.
    """
    nll = [-float(lp) for lp in logprobs]
    if not nll:
        raise ValueError("no tokens to score")
    size = min(window_tokens, len(nll))
    # Summed afresh per window (n * size, both small): a running sum would turn inf - inf into NaN.
    sums = [sum(nll[i:i + size]) for i in range(len(nll) - size + 1)]
    start = max(range(len(sums)), key=sums.__getitem__)
    return LikelihoodScore(len(nll), sum(nll) / len(nll), sums[start] / size, start)


def likelihood_failures(logprobs: Sequence[float] | None, *, max_mean_nll: float, max_window_nll: float,
                        window_tokens: int) -> list[str]:
    """The gate's likelihood-mode fluency reasons for one email (empty when it reads as the model's own).

    No log-probabilities at all is a failure, never a pass: a backend that cannot return them (a server
    without ``logprobs`` support) must not get its emails through unchecked.
    """
    if not logprobs:
        return ["no token log-probabilities to check it by (the backend returned none)"]
    if any(math.isnan(float(lp)) for lp in logprobs):
        return ["a token log-probability is not a number"]
    found = score(logprobs, window_tokens)
    reasons = []
    if found.mean_nll > max_mean_nll:
        reasons.append(f"unlikely under the model: {found.mean_nll:.2f} nats/token on average (max {max_mean_nll})")
    if found.worst_window_nll > max_window_nll:
        reasons.append(f"an unlikely stretch (a splice or garbled text) at token {found.worst_window_start}: "
                       f"{found.worst_window_nll:.2f} nats/token over {min(window_tokens, found.tokens)} tokens "
                       f"(max {max_window_nll})")
    return reasons


def fluency_for_parameters(parameters: int | None) -> str:
    """``voice`` for the embedded default (a base model below ``SMALL_MODEL_PARAMETERS``), else ``likelihood``.

    The embedded default is trained from scratch on the strategies' own language and is ~1M parameters;
    every real pretrained model is far above the threshold (the smallest Qwen3 is 0.6B). An unknown size
    (a server that does not say) is a real model: vLLM, SGLang and TGI serve real models.
    """
    return VOICE if parameters is not None and parameters < SMALL_MODEL_PARAMETERS else LIKELIHOOD
