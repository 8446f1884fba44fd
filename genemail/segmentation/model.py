"""The hierarchical segmenter: a scikit-learn classifier for L1 value tiers and L2 sub-segments.

``fit`` labels the training customers with the business definition (:mod:`.rules`) unless labels
are given, augments them with perturbed copies (masked income / children / spend / history, ±noise
on spend and recency) and trains:

* one L1 classifier (High / Mid / Low) on every row, and
* one L2 classifier per tier, trained only on that tier's rows, so it can only ever predict the L2
  segments the tier allows (``taxonomy.HIERARCHY``): predictions are consistent with their parent
  by construction.

Histogram gradient boosting handles missing values natively, so a PRD-schema row (no spend) is
scored from what it has. The model uses the feature groups its training customers provide
(:data:`genemail.features.FEATURE_GROUPS`): trained on a PRD-schema file it clusters and classifies on
income, activity, family and age alone, and :attr:`HierarchicalSegmenter.feature_groups_` says so.
Rows with too little data get ``taxonomy.COLD_START`` (see :func:`.rules.cold_start_reasons`).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from threadpoolctl import threadpool_limits

from genemail import taxonomy
from genemail.errors import ConfigError, DataError, config_error
from genemail.features import (
    FEATURE_COLUMNS,
    DEFAULT_HALF_LIFE_DAYS,
    FEATURE_GROUPS,
    MASK_GROUPS,
    VALUE_FEATURES,
    FeatureConfig,
    PerturbConfig,
    build_features,
    feature_groups,
    perturb_customers,
    usable_features,
)
from genemail.segmentation.rules import RuleConfig, ValueTiers, business_labels, cold_start_reasons

# Scoring uses several threads only when each gets at least this many rows (thread start-up and
# the GIL-bound glue cost more than they save on the app's one-customer calls).
MIN_ROWS_PER_THREAD = 5_000
# From this many rows on, the trees are scored by the compiled forest (:mod:`.forest`: the same numbers,
# twice as fast); below it scikit-learn's own scoring wins, as the compiled kernel takes a while to load.
MIN_ROWS_COMPILED = 1_000
# Compiled forests of fitted segmenters, kept beside them (never in them: a saved model stays plain sklearn).
_FORESTS: "weakref.WeakKeyDictionary[HierarchicalSegmenter, tuple]" = weakref.WeakKeyDictionary()
# Features whose training distribution is kept for "top 20% of customers" style explanations.
REFERENCE_FEATURES: tuple[str, ...] = ("income", "annual_spend", "total_purchases", "decayed_spend_rate")


@dataclass
class _Scores:
    """Everything one scoring pass computes; shared by predict, predict_proba, segment and explain."""

    features: pd.DataFrame
    cold_reason: pd.Series  # string, <NA> when not cold-started
    l1_proba: np.ndarray  # (n, n_tiers), tiers in taxonomy.L1_TIERS order
    l2_given_l1: dict[str, np.ndarray]  # tier -> (n, n_l2) P(l2 | tier), columns in l2 order

    @property
    def cold(self) -> np.ndarray:
        return self.cold_reason.notna().to_numpy()


class HierarchicalSegmenter(ClassifierMixin, BaseEstimator):
    """L1 tier classifier + one L2 classifier per tier, trained from the business definition.

    Args:
        half_life_days: time-decay half-life of the activity weight (:class:`FeatureConfig`).
        dormant_days, reengage_days: business thresholds (:class:`RuleConfig`).
        n_augment: perturbed copies of the training rows added to the training set.
        augment_missing_rate: share of rows per copy whose income/children/spend/history are masked.
        augment_noise: relative noise on spend and recency in the copies.
        max_iter, learning_rate: of each ``HistGradientBoostingClassifier``. 40 x 0.3 matches 200 x 0.1
            on the real data's held-out accuracy and scores 3-5x faster (fewer trees to walk).
        random_state: seeds KMeans, the augmentation and the classifiers.
        n_threads: threads for fitting and scoring (None: all cores). Fitting gives them to OpenMP.
            Scoring splits a large table into ``n_threads`` row blocks scored side by side, each by
            single-threaded trees (they release the GIL), so no OpenMP thread ever spins waiting for
            a busy core. 1 by default: on a busy machine extra OpenMP threads spin against other
            processes (measured: 8 s with 1 thread vs 137 s with 2 on a loaded 2-core box).
    """

    def __init__(
        self,
        half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
        dormant_days: float = 60.0,
        reengage_days: float = 30.0,
        n_augment: int = 2,
        augment_missing_rate: float = 0.2,
        augment_noise: float = 0.1,
        max_iter: int = 40,
        learning_rate: float = 0.3,
        random_state: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.half_life_days = half_life_days
        self.dormant_days = dormant_days
        self.reengage_days = reengage_days
        self.n_augment = n_augment
        self.augment_missing_rate = augment_missing_rate
        self.augment_noise = augment_noise
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.n_threads = n_threads

    # -- configuration -------------------------------------------------------------------------
    @property
    def feature_config(self) -> FeatureConfig:
        """The validated feature configuration built from the parameters."""
        return FeatureConfig(half_life_days=self.half_life_days)

    @property
    def rule_config(self) -> RuleConfig:
        """The validated business thresholds built from the parameters."""
        return RuleConfig(dormant_days=self.dormant_days, reengage_days=self.reengage_days)

    def _augment_config(self) -> PerturbConfig:
        if isinstance(self.n_augment, bool) or not isinstance(self.n_augment, int) or self.n_augment < 0:
            raise config_error("n_augment", self.n_augment, "a whole number >= 0, e.g. 2")
        return PerturbConfig(
            missing_rate=self.augment_missing_rate,
            noise=self.augment_noise,
            mask=tuple(MASK_GROUPS),
            # Recency is not noised: the label is a sharp threshold on it, and noisy copies would only
            # blur the learned boundary (symmetric noise leaves the best threshold where it is).
            noisy=("spend",),
        )

    # -- fitting -------------------------------------------------------------------------------
    def _threads(self):  # noqa: ANN202 - context manager
        self._check_threads()
        return threadpool_limits(limits=self.n_threads)

    def _check_threads(self) -> int:
        """The validated thread count (``None`` resolved to the number of cores)."""
        if self.n_threads is not None and (isinstance(self.n_threads, bool) or not isinstance(self.n_threads, int)
                                           or self.n_threads < 1):
            raise config_error("n_threads", self.n_threads, "a whole number >= 1, or None for all cores")
        return self.n_threads or os.cpu_count() or 1

    def fit(self, X: pd.DataFrame, y: object = None) -> "HierarchicalSegmenter":
        """Fit on an internal-schema frame. ``y``: None (business labels), L2 names, or a frame with l1/l2."""
        with self._threads():
            return self._fit(X, y)

    def _fit(self, X: pd.DataFrame, y: object) -> "HierarchicalSegmenter":
        _require_frame(X)
        feature_config, rule_config, augment = self.feature_config, self.rule_config, self._augment_config()
        features = build_features(X, feature_config)
        cold = cold_start_reasons(features, rule_config).notna().to_numpy()
        if (~cold).sum() < 10:
            raise DataError(
                f"only {(~cold).sum()} customers have enough data to train on",
                where="fit",
                fix="train on at least 10 customers with recency and income or spend",
            )
        self._choose_features(features[~cold])
        self.tiers_ = ValueTiers(value_features=self.value_features_, random_state=self.random_state).fit(
            features[~cold])
        labels = self._labels(features, y, rule_config)
        keep = ~cold & labels["l2"].notna().to_numpy() & labels["l1"].notna().to_numpy()
        train_frame, train_labels = X[keep], labels[keep]

        frames, label_parts = [build_features(train_frame, feature_config)], [train_labels]
        for i in range(augment and self.n_augment):
            copy = perturb_customers(train_frame, augment, seed=self.random_state + 1 + i)
            noisy = build_features(copy, feature_config)
            # A copy masked into cold start teaches nothing.
            usable = cold_start_reasons(noisy, rule_config).isna().to_numpy()
            frames.append(noisy[usable])
            label_parts.append(train_labels[usable])
        F = self._matrix(pd.concat(frames, ignore_index=True))
        L = pd.concat(label_parts, ignore_index=True)
        l1, l2 = L["l1"].to_numpy(dtype=object), L["l2"].to_numpy(dtype=object)

        self.l1_model_ = self._fit_tier(F, l1)
        self.l2_models_ = {tier: self._fit_tier(F[l1 == tier], l2[l1 == tier]) for tier in np.unique(l1)}
        seen_l2 = set(l2)
        self.l2_classes_ = np.array([s for s in taxonomy.L2_SEGMENTS if s in seen_l2], dtype=object)
        self.classes_ = np.array([*self.l2_classes_, taxonomy.COLD_START], dtype=object)
        self.l1_classes_ = np.array([*taxonomy.L1_TIERS, taxonomy.COLD_START], dtype=object)
        base = features[keep]
        self.value_quantiles_ = {
            name: np.nanquantile(base[name].to_numpy(dtype="float64"), np.linspace(0, 1, 101))
            for name in REFERENCE_FEATURES
            if base[name].notna().any()
        }
        self.n_train_ = int(keep.sum())
        return self

    def _choose_features(self, features: pd.DataFrame) -> None:
        """Keep the feature columns the training customers have (two distinct values at least)."""
        self.feature_columns_ = usable_features(features)
        self.value_features_ = tuple(f for f in VALUE_FEATURES if f in self.feature_columns_)
        if not self.value_features_:
            raise DataError(
                "no value signal varies across the customers (income, spend and purchases are missing or constant)",
                where="fit", fix="train on customers whose income or spending is known and differs",
            )
        self.feature_groups_ = feature_groups(self.feature_columns_)
        self.missing_feature_groups_ = [g for g in FEATURE_GROUPS if g not in self.feature_groups_]

    @property
    def used_features(self) -> tuple[str, ...]:
        """The feature columns the classifiers read (all of them for a model saved before feature groups)."""
        return tuple(getattr(self, "feature_columns_", FEATURE_COLUMNS))

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        """Classifier input: the used features plus the distances to the tier centroids, shape (n, d + 3).

        C-ordered, so each row's values sit together for the trees (scoring ~15% faster than
        column-ordered).
        """
        used = list(self.used_features)
        out = np.empty((len(features), len(used) + len(taxonomy.L1_TIERS)), dtype="float64")
        # reindex: sequence features the model was trained with but this frame lacks read as unknown (NaN)
        out[:, :len(used)] = features.reindex(columns=used).to_numpy(dtype="float64")
        out[:, len(used):] = self.tiers_.distances(features)
        return out

    def _classifier(self):  # noqa: ANN202 - sklearn estimator
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            early_stopping=False,  # deterministic and the data are small; augmentation regularizes
            random_state=self.random_state,
        )

    def _fit_tier(self, F: np.ndarray, l2: np.ndarray):  # noqa: ANN202
        """A classifier of ``l2`` (the L1 tiers, or one tier's L2 segments); a constant one for a single class."""
        if len(np.unique(l2)) < 2:
            from sklearn.dummy import DummyClassifier

            return DummyClassifier(strategy="most_frequent").fit(F, l2)
        # A column missing in every row of this subset cannot be binned: a constant never splits instead.
        empty = np.isnan(F).all(axis=0)
        if empty.any():
            F = F.copy()
            F[:, empty] = 0.0
        return self._classifier().fit(F, l2)

    def _labels(self, features: pd.DataFrame, y: object, rule_config: RuleConfig) -> pd.DataFrame:
        """Training labels: business definition, or ``y`` checked against the hierarchy."""
        if y is None:
            return business_labels(features, self.tiers_, rule_config)
        if isinstance(y, pd.DataFrame) and {"l1", "l2"} <= set(y.columns):
            labels = pd.DataFrame({"l1": y["l1"].to_numpy(), "l2": y["l2"].to_numpy()}, index=features.index)
        else:
            l2 = np.asarray(y, dtype=object)
            if l2.shape != (len(features),):
                raise DataError(f"y has shape {l2.shape}", where="fit(y=...)", fix=f"pass {len(features)} L2 names")
            labels = pd.DataFrame({"l1": self.tiers_.predict(features), "l2": l2}, index=features.index)
        labels = labels.astype("string")
        _check_hierarchy(labels)
        return labels

    # -- scoring -------------------------------------------------------------------------------
    def _scores(self, X: pd.DataFrame) -> _Scores:
        self._check_fitted()
        _require_frame(X)
        features = build_features(X, self.feature_config)
        threads = self._check_threads()
        with threadpool_limits(limits=1):  # KMeans distances: tiny matrix products, one thread is fastest
            F = self._matrix(features)
        blocks = np.array_split(np.arange(len(F)), threads) if len(F) >= threads * MIN_ROWS_PER_THREAD else []
        if len(blocks) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=len(blocks), thread_name_prefix="segmenter") as pool:
                parts = list(pool.map(lambda rows: self._tree_scores(F[rows]), blocks))
            l1_proba = np.concatenate([p[0] for p in parts])
            l2_given = {tier: np.concatenate([p[1][tier] for p in parts]) for tier in self.l2_models_}
        else:
            l1_proba, l2_given = self._tree_scores(F)
        return _Scores(features, cold_start_reasons(features, self.rule_config), l1_proba, l2_given)

    def _tree_scores(self, F: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """P(tier) and P(l2 | tier) for every row of ``F``, with single-threaded trees (any thread)."""
        models = self._trees()
        forest = self._forest() if len(F) >= MIN_ROWS_COMPILED else None
        if forest is not None:
            probas = forest.predict_proba(F)
        else:
            # OpenMP's thread count is per calling thread: set here, it holds for this block only.
            with threadpool_limits(limits=1, user_api="openmp"):
                probas = [model.predict_proba(F) for model in models]
        l1_proba = _aligned(probas[0], self.l1_model_.classes_, taxonomy.L1_TIERS)
        l2_given = {tier: _aligned(proba, model.classes_, self.l2_classes_)
                    for (tier, model), proba in zip(self.l2_models_.items(), probas[1:])}
        return l1_proba, l2_given

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) the scoring kernel now, not on the first large table."""
        self._check_fitted()
        forest = self._forest()
        if forest is not None:
            forest.raw(np.zeros((1, forest.n_features)))

    def _trees(self) -> list:
        """The fitted classifiers, in scoring order: L1, then each tier's L2."""
        return [self.l1_model_, *self.l2_models_.values()]

    def _forest(self) -> "CompiledForest | None":  # noqa: F821 - imported lazily
        """The classifiers' trees compiled for scoring (:mod:`.forest`), built once per fitted model."""
        models = self._trees()
        key = tuple(id(m) for m in models)
        cached = _FORESTS.get(self)
        if cached is None or cached[0] != key:  # refitted since: compile again
            from genemail.segmentation.forest import compile_forest

            cached = (key, compile_forest(models))
            _FORESTS[self] = cached
        return cached[1]

    def _decode(self, s: _Scores) -> tuple[np.ndarray, np.ndarray]:
        """Hierarchical decoding: best tier, then the best L2 *within that tier*."""
        tiers = np.array(taxonomy.L1_TIERS, dtype=object)
        l1 = tiers[s.l1_proba.argmax(axis=1)]
        l2 = np.empty(len(l1), dtype=object)
        for tier, cond in s.l2_given_l1.items():
            rows = l1 == tier
            l2[rows] = self.l2_classes_[cond[rows].argmax(axis=1)]
        l1[s.cold] = taxonomy.COLD_START
        l2[s.cold] = taxonomy.COLD_START
        return l1, l2

    def _joint_l2(self, s: _Scores) -> np.ndarray:
        """Marginal P(l2) = sum over tiers of P(tier) P(l2 | tier), shape (n, n_l2)."""
        out = np.zeros((len(s.features), len(self.l2_classes_)))
        for j, tier in enumerate(taxonomy.L1_TIERS):
            if tier in s.l2_given_l1:
                out += s.l1_proba[:, [j]] * s.l2_given_l1[tier]
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """L2 segment name per row (``Cold_Start`` where data are too thin), consistent with predict_l1."""
        return self._decode(self._scores(X))[1]

    def predict_l1(self, X: pd.DataFrame) -> np.ndarray:
        """L1 tier name per row (``Cold_Start`` where data are too thin)."""
        return self._decode(self._scores(X))[0]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(segment) per row, columns :attr:`classes_` (the L2 segments, then ``Cold_Start``)."""
        s = self._scores(X)
        return _with_cold_column(self._joint_l2(s), s.cold)

    def predict_l1_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(tier) per row, columns :attr:`l1_classes_` (High, Mid, Low, then ``Cold_Start``)."""
        s = self._scores(X)
        return _with_cold_column(s.l1_proba, s.cold)

    def segment(self, X: pd.DataFrame, *, probabilities: bool = False) -> pd.DataFrame:
        """One row per customer: ``customer_id, l1, l1_proba, l2, l2_proba, cold_start_reason``.

        ``l2_proba`` is the marginal probability of the chosen segment. With ``probabilities=True``
        a ``p_<segment>`` column per class of :attr:`classes_` is appended.
        """
        return self._segment_frame(X, self._scores(X), probabilities)

    def _segment_frame(self, X: pd.DataFrame, s: _Scores, probabilities: bool) -> pd.DataFrame:
        l1, l2 = self._decode(s)
        joint = _with_cold_column(self._joint_l2(s), s.cold)
        l1_full = _with_cold_column(s.l1_proba, s.cold)
        rows = np.arange(len(l1))
        # Category codes map names to probability columns without a per-row Python loop.
        l1_idx = pd.Categorical(l1, categories=self.l1_classes_).codes
        l2_idx = pd.Categorical(l2, categories=self.classes_).codes
        ids = X["customer_id"].astype("string").array if "customer_id" in X.columns \
            else pd.array(X.index.astype(str), dtype="string")
        out = pd.DataFrame(
            {
                "customer_id": ids,
                "l1": _names(l1_idx, self.l1_classes_),
                "l1_proba": l1_full[rows, l1_idx],
                "l2": _names(l2_idx, self.classes_),
                "l2_proba": joint[rows, l2_idx],
                "cold_start_reason": s.cold_reason.to_numpy(),
            }
        )
        out["cold_start_reason"] = out["cold_start_reason"].astype("string")
        if probabilities:
            for j, name in enumerate(self.classes_):
                out[f"p_{name}"] = joint[:, j]
        return out

    def explain(self, X: pd.DataFrame, top_k: int = 3) -> list[list[str]]:
        """Top ``top_k`` reasons per customer, in words a marketer reads (see :mod:`.explain`)."""
        from genemail.segmentation.explain import explain_rows

        s = self._scores(X)
        return explain_rows(self, s.features, self._segment_frame(X, s, False), top_k)

    def segment_and_explain(self, X: pd.DataFrame, top_k: int = 3, *, probabilities: bool = True) -> pd.DataFrame:
        """:meth:`segment` plus a ``reasons`` column (``" | "``-joined), in one scoring pass."""
        from genemail.segmentation.explain import reason_text

        s = self._scores(X)
        frame = self._segment_frame(X, s, probabilities)
        frame["reasons"] = reason_text(self, s.features, frame, top_k).array
        return frame

    def rule_labels(self, X: pd.DataFrame) -> pd.DataFrame:
        """Business-definition labels (``l1``, ``l2``; <NA> when cold-started) using the fitted tiers."""
        self._check_fitted()
        return business_labels(build_features(X, self.feature_config), self.tiers_, self.rule_config)

    def _check_fitted(self) -> None:
        if not hasattr(self, "l2_models_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("HierarchicalSegmenter is not fitted yet; call fit(customers) first")


# -- helpers ---------------------------------------------------------------------------------------
def _require_frame(X: object) -> None:
    if not isinstance(X, pd.DataFrame):
        raise DataError(
            f"expected a pandas DataFrame in the internal customer schema, got {type(X).__name__}",
            where="segmenter input",
            fix="load customers with genemail.data.load_customers(path).frame",
        )
    if "recency" not in X.columns:
        raise DataError("column 'recency' is missing", where="segmenter input", fix="pass an internal-schema frame")


def _check_hierarchy(labels: pd.DataFrame) -> None:
    """Refuse labels whose L2 segment is not allowed under its L1 tier."""
    bad = [
        (i, a, b)
        for i, (a, b) in enumerate(zip(labels["l1"], labels["l2"]))
        if not (pd.isna(a) or pd.isna(b)) and b not in taxonomy.HIERARCHY.get(a, ())
    ]
    if bad:
        i, a, b = bad[0]
        raise DataError(
            f"{len(bad)} labels break the hierarchy, first: row {i} has l1={a!r}, l2={b!r}",
            where="fit(y=...)",
            fix="use L2 names allowed under each tier (genemail.taxonomy.HIERARCHY)",
        )
    unknown = set(labels["l2"].dropna()) - set(taxonomy.L2_SEGMENTS)
    if unknown:
        raise ConfigError(f"unknown L2 segments {sorted(unknown)}", fix=f"use names from {taxonomy.L2_SEGMENTS}")


def _aligned(proba: np.ndarray, model_classes, classes) -> np.ndarray:  # noqa: ANN001
    """A model's ``proba`` (columns ``model_classes``) re-ordered into ``classes`` (zeros for unseen ones)."""
    out = np.zeros((len(proba), len(classes)))
    position = {name: j for j, name in enumerate(classes)}
    for k, name in enumerate(model_classes):
        out[:, position[name]] = proba[:, k]
    return out


def _names(codes: np.ndarray, classes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``classes[codes]`` as a text array, built by Arrow from the codes (no Python string per row)."""
    import pyarrow as pa

    names = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=codes < 0),
                                           pa.array([str(c) for c in classes], type=pa.string()))
    return pd.array(names.dictionary_decode(), dtype="string")


def _with_cold_column(proba: np.ndarray, cold: np.ndarray) -> np.ndarray:
    """Append a Cold_Start column: 1 on cold rows (whose other columns become 0), else 0."""
    out = np.hstack([proba, cold[:, None].astype("float64")])
    out[cold, :-1] = 0.0
    return out
