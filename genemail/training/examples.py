"""Training examples: ``prompt ids + email ids + EOS``, loss on the email only, and their collator.

Labels are ``-100`` on the prompt, so the loss is on the email alone and generation sees exactly the
prompt ids the model was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports only for type checkers
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100  # label value the causal-LM loss skips (prompt and padding positions)


def encode_example(tokenizer: "PreTrainedTokenizerBase", prompt: str, output: str,
                   max_length: int) -> dict[str, list[int]]:
    """``input_ids`` = prompt + output + EOS; ``labels`` are -100 on the prompt (loss on the email only).

    Too long examples lose the *start* of the prompt: the end of the prompt (the customer's
    details and the cue to start writing) matters most for the email.
    """
    prompt_ids = tokenizer(prompt)["input_ids"]
    output_ids = tokenizer(output, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    output_ids = output_ids[:max_length // 2] if len(output_ids) > max_length // 2 else output_ids
    keep = max_length - len(output_ids)
    prompt_ids = prompt_ids[-keep:] if len(prompt_ids) > keep else prompt_ids
    return {
        "input_ids": prompt_ids + output_ids,
        "attention_mask": [1] * (len(prompt_ids) + len(output_ids)),
        "labels": [IGNORE_INDEX] * len(prompt_ids) + output_ids,
    }


class CausalLMCollator:
    """Pads ``encode_example`` rows on the right (training: positions start at 0 for every row)."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, value: int) -> "torch.Tensor":
            return torch.tensor([r[key] + [value] * (width - len(r[key])) for r in rows], dtype=torch.long)

        return {"input_ids": pad("input_ids", self.pad_token_id),
                "attention_mask": pad("attention_mask", 0),
                "labels": pad("labels", IGNORE_INDEX)}
