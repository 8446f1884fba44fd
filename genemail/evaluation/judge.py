"""The automatic style judge: which segment's style is this email written in?

A TF-IDF over character 1-3-grams plus logistic regression. Characters, not words, because Chinese
has no spaces and the segments differ in short signature phrases (尊享, 亲子, 回归, 唤醒, ...).
It is trained on the corpus's *validation* split only: never on generated emails (it would learn
the model's mistakes as style) and never on the test customers' references (the generated emails
of those customers are what it judges). Its own accuracy and confusion matrix on the test references
are reported so a style-match number can be read against the judge's ceiling.

Besides the five segments it knows a sixth style, :data:`GENERIC_STYLE`: the single-strategy emails
(``generic_output``), one style for everyone. Without it a generic email would be forced into
whichever segment it resembles most and could count as a "match"; with it, an email written in the
generic style matches no segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError, config_error

if TYPE_CHECKING:
    import datasets
    from sklearn.pipeline import Pipeline

GENERIC_STYLE = "generic"  # the judge's label for the single-strategy style


@dataclass(frozen=True)
class JudgeConfig:
    """Style judge hyper-parameters; validated on construction."""

    ngram_min: int = 1
    ngram_max: int = 3
    C: float = 10.0
    max_iter: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.ngram_min, int) or self.ngram_min < 1:
            raise config_error("ngram_min", self.ngram_min, "a positive integer")
        if not isinstance(self.ngram_max, int) or self.ngram_max < self.ngram_min:
            raise config_error("ngram_max", self.ngram_max, f"an integer >= ngram_min ({self.ngram_min})")
        if not self.C > 0:
            raise config_error("C", self.C, "a positive number (inverse regularization strength)")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise config_error("max_iter", self.max_iter, "a positive integer")


class StyleJudge:
    """Predicts the segment an email's style belongs to. Build with :meth:`fit`."""

    def __init__(self, pipeline: "Pipeline", config: JudgeConfig) -> None:
        self.pipeline = pipeline
        self.config = config

    @classmethod
    def fit(cls, emails: Sequence[str], segments: Sequence[str], config: JudgeConfig | None = None) -> "StyleJudge":
        """Train on reference emails and their segments (at least two segments)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        config = config or JudgeConfig()
        if len(emails) != len(segments):
            raise DataError(f"{len(emails)} emails but {len(segments)} segments", fix="pass one segment per email")
        if len(set(segments)) < 2:
            raise DataError(
                f"the judge needs at least 2 segments, got {sorted(set(segments))}",
                where="training emails", fix="train on a split that holds several segments (the validation split)",
            )
        pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char", ngram_range=(config.ngram_min, config.ngram_max), sublinear_tf=True),
            # Balanced weights: segments are very unequal in size (a few dozen Regular_Active
            # customers beside hundreds of Dormant ones), and the judge must not favour the big ones.
            LogisticRegression(C=config.C, max_iter=config.max_iter, class_weight="balanced", random_state=config.seed),
        )
        pipeline.fit(list(emails), list(segments))
        return cls(pipeline, config)

    @property
    def labels(self) -> tuple[str, ...]:
        """The segments the judge can predict."""
        return tuple(str(label) for label in self.pipeline.classes_)

    def predict(self, emails: Sequence[str]) -> list[str]:
        """The judged segment of each email."""
        if not emails:
            return []
        return [str(label) for label in self.pipeline.predict(list(emails))]

    def predict_proba(self, emails: Sequence[str]) -> list[dict[str, float]]:
        """Per-email probability of each segment."""
        probabilities = self.pipeline.predict_proba(list(emails)) if emails else []
        return [dict(zip(self.labels, map(float, row))) for row in probabilities]

    def accuracy(self, emails: Sequence[str], segments: Sequence[str]) -> float:
        """Share of ``emails`` judged to be in their given segment."""
        if not emails:
            return 0.0
        return sum(p == s for p, s in zip(self.predict(emails), segments)) / len(emails)


def labelled_references(split: "datasets.Dataset") -> tuple[list[str], list[str]]:
    """A split's reference emails and their style labels: each segment's emails, plus the
    single-strategy emails labelled :data:`GENERIC_STYLE` (when the corpus has them)."""
    # As customers read them: facts filled (the judge reads sent emails, never merge tags).
    emails, labels = list(split["rendered"]), list(split["segment"])
    generic = [g for g in split["generic_rendered"] if g] if "generic_rendered" in split.column_names else []
    return emails + generic, labels + [GENERIC_STYLE] * len(generic)


def train_style_judge(corpus: "datasets.DatasetDict", config: JudgeConfig | None = None) -> StyleJudge:
    """Train the judge on the corpus's validation split (reference emails only)."""
    return StyleJudge.fit(*labelled_references(corpus["validation"]), config)


def judge_report(judge: StyleJudge, corpus: "datasets.DatasetDict") -> dict[str, Any]:
    """The judge's held-out accuracy and confusion matrix on the test split's reference emails.

    ``accuracy`` and ``per_segment`` are on the segments' references (the ceiling of style match);
    ``generic_accuracy`` on the single-strategy references; the confusion matrix covers both
    (rows: true style, columns: judged style, in ``labels`` order).
    """
    from sklearn.metrics import confusion_matrix

    from genemail.evaluation.metrics import style_match

    test = corpus["test"]
    result = style_match(judge.predict(test["rendered"]), test["segment"])
    emails, truth = labelled_references(test)
    predicted = judge.predict(emails)
    labels = list(judge.labels)
    generic = [(p, t) for p, t in zip(predicted, truth) if t == GENERIC_STYLE]
    return {
        "accuracy": result["overall"], "per_segment": result["per_segment"], "n_test": result["n"],
        "generic_accuracy": sum(p == t for p, t in generic) / len(generic) if generic else None,
        "n_generic_test": len(generic),
        "confusion_matrix": {"labels": labels,
                             "matrix": confusion_matrix(truth, predicted, labels=labels).tolist()},
        "n_train": len(labelled_references(corpus["validation"])[0]), "trained_on": "validation",
        "labels": labels,
    }
