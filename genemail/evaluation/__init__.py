"""GenEmail evaluation stage: style judge, fact consistency, diversity and style match.

Public API (heavy libraries are imported inside the functions, so importing this is cheap)::

    from genemail.evaluation import StyleJudge, train_style_judge, fact_consistency, ...
"""

from genemail.evaluation.judge import JudgeConfig, StyleJudge, judge_report, train_style_judge
from genemail.evaluation.metrics import (
    Claim,
    FactCheck,
    distinct_n,
    diversity,
    extract_claims,
    fact_consistency,
    fact_consistency_rate,
    self_bleu,
    sentence_bleu,
    style_match,
    tokenize,
)

__all__ = [
    "Claim", "FactCheck", "JudgeConfig", "StyleJudge", "distinct_n", "diversity", "extract_claims",
    "fact_consistency", "fact_consistency_rate", "judge_report", "self_bleu", "sentence_bleu",
    "style_match", "tokenize", "train_style_judge",
]
