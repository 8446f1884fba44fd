"""GenEmailService: everything the app does, as plain Python that any caller (or test) can use.

The Gradio layer (``app.py``, ``genemail/app_ui``) only turns widgets into calls of this class and
its results back into widgets. The service holds:

* the loaded release as one immutable :class:`ReleaseSnapshot` (segmenter, strategies, generator,
  manifest and shas). A switch builds the new snapshot completely and then replaces the reference
  in one assignment, so a request that read ``service.snapshot`` once keeps a consistent release
  even while another user switches;
* the demo customer table (``customers_path`` if configured, else seeded synthetic customers);
* the ratings store (SQLite, WAL) and, when a ratings repo is configured, its Hub export.

Release loading failures never stop the service: they are kept in :attr:`GenEmailService.load_error`
so the app can start and say what failed and how to fix it.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail import taxonomy
from genemail.errors import DataError, GenEmailError, HubError, config_error
from genemail.service_types import (  # noqa: F401 - re-exported: callers import them from here
    LANGS,
    CampaignResult,
    ComposeResult,
    GenerationOptions,
    RatingPair,
    ReleaseSnapshot,
    SegmentView,
    ServiceConfig,
    StrategyCard,
    utc_timestamp,
)

if TYPE_CHECKING:
    import pandas as pd

    from genemail.ratings.store import RatingsStore

logger = logging.getLogger(__name__)

LATEST = "latest"  # as a revision: the release repo's newest tag (natural order: v10 after v9)
PREVIEW_ROWS = 20
# What a user should do when no release could be loaded (shown on the app's start page).
NO_RELEASE_FIX = (
    "build and publish the demo release with `make demo` (it starts the local Hub and this app), or point "
    "the app at a release: GENEMAIL_RELEASE_REPO=<namespace>/genemail-release, GENEMAIL_RELEASE_REVISION=<tag>, "
    "HF_ENDPOINT=<Hub URL> and HF_TOKEN if the repo is private; or load a revision in the Models tab"
)



# ----------------------------------------------------------------------------------- service


class GenEmailService:
    """The app's back end. Build, then :meth:`start` (loads customers, ratings and the release)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._snapshot: ReleaseSnapshot | None = None
        self._switch_lock = threading.Lock()  # one release load at a time
        self.load_error: str | None = None
        self._customers: pd.DataFrame | None = None
        self._store: RatingsStore | None = None
        self.exporter: Any = None
        self.export_error: str | None = None
        self._work_dir = Path(config.work_dir) if config.work_dir else Path(tempfile.mkdtemp(prefix="genemail-app-"))

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, *, load_release: bool = True) -> "GenEmailService":
        """Load customers, open the ratings store, start the export and (try to) load the release."""
        self.customers  # noqa: B018 - load now, not on the first request
        self.store  # noqa: B018
        self._start_export()
        if load_release:
            try:
                self.switch(self.config.revision)
            except GenEmailError as err:
                logger.warning("release not loaded: %s", err)
            except Exception as err:  # a broken artifact must not stop the app from starting and saying so
                logger.exception("release not loaded")
                self.load_error = f"{type(err).__name__}: {err}"
        return self

    def _start_export(self) -> None:
        if not self.config.ratings_repo:
            return
        from genemail.ratings.export import start_export

        try:
            self.exporter = start_export(self.store, self.config.ratings_repo, self._work_dir / "ratings_export",
                                         token=self.config.token)
        except GenEmailError as err:  # ratings stay local; the app says so on the Rate tab
            self.export_error = str(err)
            logger.warning("ratings export not started: %s", err)

    def close(self) -> None:
        """Stop the export (a last push runs in its own thread)."""
        if self.exporter is not None:
            self.exporter.stop()

    @property
    def ready(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot(self) -> ReleaseSnapshot:
        """The current release; :class:`HubError` saying how to get one when none is loaded."""
        snap = self._snapshot
        if snap is None:
            what = f"no release is loaded ({self.load_error})" if self.load_error else "no release is loaded"
            raise HubError(what, where=f"{self.config.release_repo}@{self.config.revision}", fix=NO_RELEASE_FIX)
        return snap

    # -- customers -----------------------------------------------------------------------------
    @property
    def customers(self) -> "pd.DataFrame":
        """The demo customer table (internal schema), indexed by ``customer_id``."""
        if self._customers is None:
            self._customers = self._load_customers()
        return self._customers

    def _load_customers(self) -> "pd.DataFrame":
        from genemail.data.loader import clean_frame, load_customers

        if self.config.customers_path is not None:
            frame = load_customers(self.config.customers_path).frame
        else:
            from genemail.data.synth import synthesize

            frame = clean_frame(synthesize(self.config.n_demo_customers, seed=self.config.demo_seed),
                                source="synthetic customers").frame
        frame = frame.reset_index(drop=True)
        frame.index = frame["customer_id"].astype(str)
        return frame

    def customer_ids(self, limit: int | None = None) -> list[str]:
        """Customer IDs of the demo table, in file order (the first ``limit``)."""
        ids = self.customers.index.tolist()
        return ids[:limit] if limit else ids

    def customer_frame(self, customer_id: str) -> "pd.DataFrame":
        """A one-row internal-schema frame for ``customer_id``; :class:`DataError` when unknown."""
        key = str(customer_id or "").strip()
        if not key or key not in self.customers.index:
            sample = ", ".join(self.customer_ids(3))
            raise DataError(f"unknown customer ID {key!r}", where="customer table",
                            fix=f"pick an ID from the list (e.g. {sample}) or fill the new-customer form")
        return self.customers.loc[[key]].reset_index(drop=True)

    @staticmethod
    def new_customer_frame(fields: Mapping[str, Any]) -> "pd.DataFrame":
        """Clean a new-customer form (PRD schema: Age, Gender, Education, ...) into one internal row.

        Blank fields stay missing: a customer with too little data gets the cold-start segment.
        """
        import pandas as pd

        from genemail.data.loader import clean_frame

        row = {"ID": str(fields.get("ID") or "new-customer")}
        for column in ("Gender", "Age", "Education", "Marital_Status", "Income", "KidAge", "Familysize", "Recency"):
            value = fields.get(column)
            row[column] = None if value in ("", None) else value
        return clean_frame(pd.DataFrame([row]), source="new-customer form").frame.reset_index(drop=True)

    # -- segmenting ----------------------------------------------------------------------------
    def segment(self, customer_id: str) -> SegmentView:
        """Segment, probabilities, reasons and strategy of a known customer."""
        return self._views(self.snapshot, self.customer_frame(customer_id))[0]

    def segment_new(self, fields: Mapping[str, Any]) -> SegmentView:
        """The same for a new customer described by the form (cold start when data are thin)."""
        return self._views(self.snapshot, self.new_customer_frame(fields))[0]

    def _views(self, snap: ReleaseSnapshot, frame: "pd.DataFrame") -> list[SegmentView]:
        scored = snap.segmenter.segment_and_explain(frame, top_k=3, probabilities=False)
        views = []
        for row in scored.itertuples(index=False):
            cold = None if _missing(row.cold_start_reason) else str(row.cold_start_reason)
            reasons = tuple(r for r in str(row.reasons).split(" | ") if r)
            if cold:
                reasons = (f"Too little data for a segment: {cold}; the default strategy is used.", *reasons)
            views.append(SegmentView(str(row.customer_id), str(row.l1), float(row.l1_proba), str(row.l2),
                                     float(row.l2_proba), cold, reasons, self._card(snap, str(row.l2))))
        return views

    def _card(self, snap: ReleaseSnapshot, segment: str) -> StrategyCard:
        strategy = snap.strategies.for_segment(segment)
        text = strategy.text(self.config.lang)
        return StrategyCard(segment, text.display_name, text.tone, text.greeting, text.focus, text.call_to_action,
                            strategy.adapter, snap.adapter_repo(strategy.adapter), snap.adapter_sha(strategy.adapter))

    # -- generation ----------------------------------------------------------------------------
    def compose(self, customer_id: str, options: GenerationOptions | None = None) -> ComposeResult:
        """Segmented email beside the baseline email for a known customer."""
        snap = self.snapshot
        return self._compose(snap, self.customer_frame(customer_id), options or GenerationOptions())

    def compose_new(self, fields: Mapping[str, Any], options: GenerationOptions | None = None) -> ComposeResult:
        """The same for a new customer from the form."""
        snap = self.snapshot
        return self._compose(snap, self.new_customer_frame(fields), options or GenerationOptions())

    def _compose(self, snap: ReleaseSnapshot, frame: "pd.DataFrame", options: GenerationOptions) -> ComposeResult:
        from genemail.generation.prompts import build_baseline_prompt, profile_from_row

        view = self._views(snap, frame)[0]
        profile = profile_from_row(frame.iloc[0])
        config = options.generation_config(self.config.lang)
        t0 = time.perf_counter()
        segmented = snap.generator.generate([profile], [view.l2], config, batch_size=1, with_baseline=False)[0]
        t1 = time.perf_counter()
        baseline = snap.generator.complete([build_baseline_prompt(profile, lang=self.config.lang)], [taxonomy.BASELINE], config)[0]
        t2 = time.perf_counter()
        return ComposeResult(view, segmented.email, baseline.text, round(t1 - t0, 3), round(t2 - t1, 3),
                             segmented.new_tokens, baseline.new_tokens, snap.info())

    # -- rating --------------------------------------------------------------------------------
    def next_pair(self, customer_id: str | None = None, options: GenerationOptions | None = None) -> RatingPair:
        """A blind pair for rating: one customer's segmented and baseline emails, sides randomized.

        Emails are cached per release and decoding settings, so many raters of one customer share
        one generation (and rate the very same texts, which agreement statistics need).
        """
        snap = self.snapshot
        options = options or GenerationOptions()
        key = str(customer_id).strip() if customer_id else secrets.choice(self.customer_ids())
        cache_key = (key, options)
        with snap._pairs_lock:
            result = snap._pairs.get(cache_key)
        if result is None:
            result = self._compose(snap, self.customer_frame(key), options)
            with snap._pairs_lock:
                snap._pairs[cache_key] = result
                while len(snap._pairs) > self.config.pair_cache_size:
                    snap._pairs.popitem(last=False)
        return self._pair_from(snap, result)

    def _pair_from(self, snap: ReleaseSnapshot, result: ComposeResult) -> RatingPair:
        from genemail.ratings.store import new_submission_id

        view = result.view
        segmented_left = secrets.randbelow(2) == 0  # recorded in the rating, so the bias can be checked
        left, right = ("segmented", "baseline") if segmented_left else ("baseline", "segmented")
        texts = {"segmented": result.email, "baseline": result.baseline_email}
        return RatingPair(
            new_submission_id(), view.customer_id, view.l2, view.strategy, left, right, texts[left], texts[right],
            snap.repo_id, snap.revision, snap.release_sha, view.strategy.adapter_sha or "",
            snap.adapter_sha(taxonomy.BASELINE) or "",
        )

    def rate(self, pair: RatingPair, *, rater: str, choice: str, score_a: int, score_b: int,
             comment: str = "") -> int:
        """Store one rating of ``pair`` (A = left, B = right); return its ``rating_id``.

        Idempotent: submitting the same pair again with the same answers returns the same id.
        """
        from genemail.ratings.store import Rating

        if not isinstance(pair, RatingPair):
            raise DataError("there is no pair to rate", where="Rate tab",
                            fix="press 'New pair' to load two emails, read them, then submit")
        scores = {pair.left_variant: _score("score_a", score_a), pair.right_variant: _score("score_b", score_b)}
        rating = Rating(
            submission_id=pair.submission_id, rater=rater, customer_id=pair.customer_id, segment=pair.segment,
            left_variant=pair.left_variant, right_variant=pair.right_variant, choice=choice,
            score_segmented=scores["segmented"], score_baseline=scores["baseline"],
            release_repo=pair.release_repo, release_revision=pair.release_revision, release_sha=pair.release_sha,
            adapter_sha=pair.adapter_sha, baseline_adapter_sha=pair.baseline_adapter_sha, comment=comment or "",
        )
        return self.store.add(rating)

    @property
    def store(self) -> "RatingsStore":
        if self._store is None:
            from genemail.ratings.store import RatingsStore

            self._store = RatingsStore(self.config.ratings_db)
        return self._store

    def stats(self) -> tuple[dict[str, Any], "pd.DataFrame"]:
        """The live rating statistics: ``(summary dict, tidy table)`` (empty table before any rating)."""
        import pandas as pd

        from genemail.ratings.stats import summary, summary_table

        ratings = self.store.all()
        if ratings.empty:
            empty = pd.DataFrame(columns=["segment", "metric", "variant", "n", "value", "ci_low", "ci_high", "p_value"])
            return {"n_ratings": 0, "n_raters": 0, "n_customers": 0}, empty
        return summary(ratings), summary_table(ratings)

    # -- campaign ------------------------------------------------------------------------------
    def campaign(self, source: str | Path | int, options: GenerationOptions | None = None,
                 progress: Callable[[int, int], None] | None = None) -> CampaignResult:
        """Segment and generate, in mixed batches, for an uploaded file (a path) or the first ``n`` demo customers.

        Writes ``campaign.jsonl`` and ``campaign.csv`` (one row per customer) under :attr:`work_dir`;
        ``progress(done, total)`` is called after every batch.
        """
        import pandas as pd

        from genemail.generation.campaign import run_campaign

        snap = self.snapshot
        frame, report = self._campaign_customers(source)
        out_dir = self._work_dir / "campaigns" / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        config = (options or GenerationOptions()).generation_config(self.config.lang)
        t0 = time.perf_counter()
        summary = run_campaign(frame, snap.segmenter, snap.strategies, snap.generator, out_dir / "campaign.jsonl",
                               config, batch_size=self.config.batch_size, progress=False,
                               release_info={"repo_id": snap.repo_id, "revision": snap.revision,
                                             "sha": snap.release_sha}, on_progress=progress)
        rows = pd.read_json(summary.out_path, lines=True, dtype={"customer_id": str})
        csv_path = out_dir / "campaign.csv"
        rows.to_csv(csv_path, index=False, encoding="utf-8-sig")  # BOM: spreadsheet apps then read Chinese text right
        counts = rows.groupby(["l1", "l2"], dropna=False).size().reset_index(name="customers")
        preview = rows.head(PREVIEW_ROWS)[["customer_id", "l1", "l2", "strategy", "email", "baseline_email"]]
        return CampaignResult(summary.out_path, csv_path, len(rows), preview, counts,
                              round(time.perf_counter() - t0, 2), report)

    def _campaign_customers(self, source: str | Path | int) -> tuple["pd.DataFrame", str]:
        from genemail.data.loader import load_customers

        limit = self.config.max_campaign_rows
        if isinstance(source, (int, float)) and not isinstance(source, bool):
            if int(source) != source or not 1 <= source <= min(limit, len(self.customers)):
                raise DataError(f"N={source!r} customers is out of range", where="Campaign tab",
                                fix=f"choose N from 1 to {min(limit, len(self.customers))}, or upload a file")
            return self.customers.head(int(source)).reset_index(drop=True), ""
        if not source:
            raise DataError("no customer file and no N given", where="Campaign tab",
                            fix="upload a CSV/Parquet customer file or choose N demo customers")
        loaded = load_customers(Path(source))  # DataError names file, row and column
        if len(loaded.frame) > limit:
            raise DataError(f"the file has {len(loaded.frame)} customers, more than the app's limit of {limit}",
                            where=Path(source).name, fix="split the file, or run `genemail campaign` from the CLI")
        return loaded.frame.reset_index(drop=True), loaded.report.summary()

    @property
    def work_dir(self) -> Path:
        return self._work_dir

    # -- segment explorer ----------------------------------------------------------------------
    def segment_overview(self) -> dict[str, Any]:
        """Segment sizes of the demo customers plus the release's cluster analysis (clusters.json, plots)."""
        import json

        snap = self.snapshot
        with snap._pairs_lock:
            cached = snap._overview.get("overview")
        if cached is not None:
            return cached
        scored = snap.segmenter.segment(self.customers.reset_index(drop=True))
        sizes = scored.groupby(["l1", "l2"]).size().reset_index(name="customers")
        clusters: dict[str, Any] = {}
        plots: dict[str, Path] = {}
        if snap.segmenter_dir is not None and (snap.segmenter_dir / "clusters.json").is_file():
            clusters = json.loads((snap.segmenter_dir / "clusters.json").read_text(encoding="utf-8"))
            plots = self._served_copies(snap, clusters.get("plots") or {})
        overview = {"sizes": sizes, "clusters": clusters, "plots": plots}
        with snap._pairs_lock:
            snap._overview["overview"] = overview
        return overview

    def _served_copies(self, snap: ReleaseSnapshot, plots: Mapping[str, str]) -> dict[str, Path]:
        """Copy the release's plots under :attr:`work_dir`: a web app may serve that folder, not the Hub cache."""
        import shutil

        target = self._work_dir / "plots" / snap.release_sha[:12]
        target.mkdir(parents=True, exist_ok=True)
        copies = {}
        for name, rel in plots.items():
            source = snap.segmenter_dir / rel if snap.segmenter_dir else None
            if source is not None and source.is_file():
                copies[name] = Path(shutil.copy2(source, target / source.name))
        return copies

    # -- releases ------------------------------------------------------------------------------
    def switch(self, revision: str) -> ReleaseSnapshot:
        """Load ``revision`` (or ``"latest"``: the newest tag) and make it current; the old one stays on failure."""
        revision = str(revision or "").strip()
        if not revision:
            raise config_error("revision", revision, "a release tag such as v1 (see the list of tags)")
        if revision == LATEST:
            revision = self._latest_tag()
        with self._switch_lock:
            try:
                snap = load_snapshot(self.config, revision)
            except GenEmailError as err:
                if self._snapshot is None:
                    self.load_error = str(err)
                raise
            self._snapshot = snap  # one reference assignment: readers see the old or the new, never a mix
            self.load_error = None
        return snap

    def _latest_tag(self) -> str:
        tags = self.list_tags()
        if not tags:
            raise HubError("the release repo has no tags", where=self.config.release_repo,
                           fix="publish one with `genemail publish --tag v1` (or `make demo`)")
        return tags[-1]

    def list_tags(self) -> list[str]:
        """Release tags on the Hub, newest first where the Hub orders them."""
        from genemail.hub.release import list_release_tags

        return list(list_release_tags(self.config.release_repo, token=self.config.token))

    def release_rows(self) -> list[dict[str, str]]:
        """One row per pinned artifact of the current release: name, repo, type, sha, card link."""
        from genemail.hub.cards import tree_url

        snap = self.snapshot
        endpoint = (self.config.hf_endpoint or "https://huggingface.co").rstrip("/")
        rows = [{"artifact": "release", "repo_id": snap.repo_id, "repo_type": "model", "sha": snap.release_sha,
                 "card": tree_url(endpoint, snap.repo_id, "model", snap.release_sha)}]
        for name, pin in snap.manifest.pins().items():
            rows.append({"artifact": name, "repo_id": pin.repo_id, "repo_type": pin.repo_type, "sha": pin.sha,
                         "card": tree_url(endpoint, pin.repo_id, pin.repo_type, pin.sha)})
        return rows


def load_snapshot(config: ServiceConfig, revision: str) -> ReleaseSnapshot:
    """Pull ``revision`` of the release (verified against its pins) and load every model it pins."""
    from genemail.loading import load_release_system

    t0 = time.perf_counter()
    system = load_release_system(config.release_repo, revision, token=config.token)
    pulled, strategies = system.pulled, system.strategies
    warnings = list(system.warnings)
    needed = {strategies.for_segment(s).adapter for s in strategies.segments}
    missing = sorted(needed - set(system.generator.adapter_names))
    if missing:  # the app still runs; composing for those segments raises a readable ArtifactError
        warnings.append(f"the release has no adapter for {missing}: emails for those segments cannot be written; "
                        "publish a release with every adapter")
    return ReleaseSnapshot(
        repo_id=config.release_repo, revision=revision, release_sha=pulled.release_sha,
        is_mutable=pulled.is_mutable, manifest=pulled.manifest, segmenter=system.segmenter, strategies=strategies,
        generator=system.generator, segmenter_dir=pulled.segmenter_path.parent, loaded_at=utc_timestamp(),
        load_seconds=round(time.perf_counter() - t0, 2), warnings=tuple(warnings),
    )


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _score(name: str, value: object) -> int:
    """Scores arrive as floats from sliders; accept whole numbers only."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
        raise DataError(f"{name}={value!r} is not a whole number", where="Rate tab", fix="score each email from 1 to 5")
    return int(value)
