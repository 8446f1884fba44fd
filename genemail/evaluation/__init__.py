"""GenEmail evaluation stage: style judge, fact consistency, relevance, diversity, statistics, the offline run.

Public API (heavy libraries are imported inside the functions, so importing this is cheap)::

    from genemail.evaluation import StyleJudge, train_style_judge, fact_consistency, relevance, ...
    from genemail.evaluation.offline import run_evaluation, write_outputs, format_table
"""

from genemail.evaluation.judge import GENERIC_STYLE, JudgeConfig, StyleJudge, judge_report, train_style_judge
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
from genemail.evaluation.relevance import RelevanceCheck, offers, relevance, relevance_outcomes
from genemail.evaluation.stats import bootstrap_difference, compare, holm, mcnemar_test, rate_summary, wilson_interval

__all__ = [
    "Claim", "FactCheck", "GENERIC_STYLE", "JudgeConfig", "RelevanceCheck", "StyleJudge", "bootstrap_difference",
    "compare", "distinct_n", "diversity", "extract_claims", "fact_consistency", "fact_consistency_rate", "holm",
    "judge_report", "mcnemar_test", "offers", "rate_summary", "relevance", "relevance_outcomes", "self_bleu",
    "sentence_bleu", "style_match", "tokenize", "train_style_judge", "wilson_interval",
]
