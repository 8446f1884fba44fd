"""GenEmailService: the app's back end, as plain Python that any caller (or test) can use.

The Gradio layer (``app.py``, ``genemail/app_ui``) only turns widgets into calls of this class and
its results back into widgets. The service holds the current release and the handles to each stage:

* the loaded release, one immutable :class:`~genemail.loading.LoadedSystem`. A switch builds the
  new system completely and then replaces the reference in one assignment, so a request that read
  ``service.snapshot`` once keeps a consistent release even while another user switches;
* the demo customers (:class:`~genemail.data.table.CustomerTable`);
* the rating workflow (:class:`~genemail.ratings.workflow.RatingWorkflow`: pairs, SQLite store,
  statistics) and, when a ratings repo is configured, its Hub export.

Composing goes through :mod:`genemail.generation.compose`, campaigns through
:mod:`genemail.pipeline.campaign`, the segment explorer through :mod:`genemail.segmentation.overview`.
Release loading failures never stop the service: they are kept in :attr:`GenEmailService.load_error`
so the app can start and say what failed and how to fix it.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail import clock, taxonomy
from genemail.errors import ConfigError, DataError, GenEmailError, HubError, config_error

if TYPE_CHECKING:
    import pandas as pd

    from genemail.data.table import CustomerTable
    from genemail.experiments.assignment import ExperimentConfig
    from genemail.experiments.ingest import IngestResult
    from genemail.pipeline.campaign import CampaignResult
    from genemail.generation.compose import ComposeResult, SegmentView
    from genemail.generation.generator import GenerationConfig
    from genemail.loading import LoadedSystem
    from genemail.ratings.store import RatingsStore
    from genemail.labels.workflow import LabelTask, LabelWorkflow
    from genemail.ratings.workflow import RatingPair, RatingWorkflow
    from genemail.settings import Settings
    from genemail.studio.service import StudioService

logger = logging.getLogger(__name__)

# Uploads are checked when they arrive, before anything runs on them: a customer file of the app's
# largest campaign (2,000 rows) is well under 1 MB; an events export of a large campaign is bigger.
CUSTOMER_FILE_TYPES: tuple[str, ...] = (".csv", ".tsv", ".txt", ".parquet", ".pq")
OUTCOME_FILE_TYPES: tuple[str, ...] = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet", ".pq")
CUSTOMER_FILE_MAX_MB = 5
OUTCOME_FILE_MAX_MB = 50
LATEST = "latest"  # as a revision: the release repo's newest tag (natural order: v10 after v9)
# What a user should do when no release could be loaded (shown on the app's start page).
NO_RELEASE_FIX = (
    "build and publish the demo release with `make demo` (it starts the local Hub and this app), or point "
    "the app at a release: GENEMAIL_RELEASE_REPO=<namespace>/genemail-release, GENEMAIL_RELEASE_REVISION=<tag>, "
    "HF_ENDPOINT=<Hub URL> and HF_TOKEN if the repo is private; or load a revision in the Models tab"
)


# ----------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ServiceConfig:
    """Where the service gets its release, customers and ratings from; validated on creation.

    Args:
        release_repo: release repo id (``namespace/genemail-release``).
        revision: tag, branch or commit of the release to load first.
        token: Hub token (``None``: huggingface_hub reads ``HF_TOKEN`` itself).
        hf_endpoint: the Hub URL, for links only (huggingface_hub reads ``HF_ENDPOINT`` itself).
        customers_path: demo customer file; ``None`` means ``n_demo_customers`` synthetic ones.
        ratings_db: SQLite file of the ratings store.
        ratings_repo: dataset repo the ratings are exported to; ``None`` keeps them local.
        results_db: SQLite file of the experiments' send logs and outcome events (the Results tab).
        labels_db: SQLite file of the hand labels (the Label tab).
        labels_repo: dataset repo the hand labels are exported to; ``None`` keeps them local.
        work_dir: where campaign outputs and the export folder go (``None``: a temp folder).
        lang: language of the prompts and strategy texts (``zh`` or ``en``).
        ui_lang: language the page opens in (``en`` or ``zh``; each user can switch in the page).
        max_campaign_rows: largest campaign run from the app.
        batch_size: rows per generation batch in campaigns.
        pair_cache_size: composed rating pairs kept so raters of one customer share one generation.
        retrain_preset: how much the strategy studio's retraining jobs train (``full``; ``micro`` in tests).
    """

    release_repo: str
    revision: str = "main"
    token: str | None = field(default=None, repr=False)
    hf_endpoint: str | None = None
    customers_path: Path | None = None
    n_demo_customers: int = 500
    demo_seed: int = 0
    ratings_db: Path = Path("ratings.sqlite")
    ratings_repo: str | None = None
    results_db: Path = Path("results.sqlite")
    labels_db: Path = Path("labels.sqlite")
    labels_repo: str | None = None
    work_dir: Path | None = None
    lang: str = "zh"
    ui_lang: str = "en"
    max_campaign_rows: int = 2000
    batch_size: int = 8
    pair_cache_size: int = 256
    retrain_preset: str = "full"

    def __post_init__(self) -> None:
        if not isinstance(self.release_repo, str) or self.release_repo.count("/") != 1:
            raise config_error("release_repo", self.release_repo, "'namespace/name' (GENEMAIL_RELEASE_REPO)")
        if not isinstance(self.revision, str) or not self.revision.strip():
            raise config_error("revision", self.revision, "a tag, branch or commit (GENEMAIL_RELEASE_REVISION)")
        for name in ("n_demo_customers", "max_campaign_rows", "batch_size", "pair_cache_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise config_error(name, value, "a positive integer")
        if self.lang not in taxonomy.LANGS:
            raise config_error("lang", self.lang, f"one of {taxonomy.LANGS}")
        if self.ui_lang not in taxonomy.LANGS:
            raise config_error("ui_lang", self.ui_lang, f"one of {taxonomy.LANGS}")
        from genemail.studio.retrain import preset

        preset(self.retrain_preset)  # an unknown preset names the field
        if self.customers_path is not None and not Path(self.customers_path).is_file():
            raise ConfigError(f"customers_path={str(self.customers_path)!r} does not exist",
                              fix="pass an existing CSV/Parquet customer file, or none for synthetic customers")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServiceConfig:
        """Defaults from :class:`genemail.settings.Settings`; ``overrides`` (CLI flags) win when not None."""
        values: dict[str, Any] = {
            "release_repo": settings.release_repo, "revision": settings.release_revision,
            "token": settings.hf_token, "hf_endpoint": settings.hf_endpoint,
            "ratings_db": settings.ratings_db, "ratings_repo": settings.ratings_repo,
            "results_db": settings.results_db, "customers_path": settings.customers_path,
            "labels_db": settings.labels_db, "labels_repo": settings.labels_repo,
            "retrain_preset": settings.retrain_preset,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class GenerationOptions:
    """The app's decoding controls. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 96
    temperature: float = 0.0
    seed: int = 0
    top_p: float = 0.95

    def __post_init__(self) -> None:
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or not 1 <= self.max_new_tokens <= 1024:
            raise config_error("max_new_tokens", self.max_new_tokens, "a whole number from 1 to 1024")
        if not isinstance(self.temperature, (int, float)) or not 0 <= self.temperature <= 5:
            raise config_error("temperature", self.temperature, "a number from 0 (greedy) to 5")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise config_error("seed", self.seed, "a whole number >= 0")

    def generation_config(self, lang: str) -> GenerationConfig:
        """The generator's config (sampling only when ``temperature > 0``)."""
        from genemail.generation.generator import GenerationConfig

        sample = self.temperature > 0
        return GenerationConfig(max_new_tokens=self.max_new_tokens, do_sample=sample,
                                temperature=float(self.temperature) if sample else 1.0,
                                top_p=self.top_p, seed=self.seed, lang=lang)


# ----------------------------------------------------------------------------------- service


class GenEmailService:
    """The app's back end. Build, then :meth:`start` (loads customers, ratings and the release)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._snapshot: LoadedSystem | None = None
        self._switch_lock = threading.Lock()  # one release load at a time
        self.load_error: str | None = None
        self._customers: CustomerTable | None = None
        self._ratings: RatingWorkflow | None = None
        self._labels: LabelWorkflow | None = None
        self._overviews: dict[str, dict[str, Any]] = {}  # release sha -> segment overview
        self.exporter: Any = None
        self.export_error: str | None = None
        self.labels_exporter: Any = None
        self._studio: StudioService | None = None
        self._work_dir = Path(config.work_dir) if config.work_dir else Path(tempfile.mkdtemp(prefix="genemail-app-"))

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, *, load_release: bool = True) -> GenEmailService:
        """Load customers, open the ratings store, start the export and (try to) load the release."""
        self.table  # noqa: B018 - load now, not on the first request
        self.ratings  # noqa: B018
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
        if self.config.ratings_repo:
            self._start_ratings_export()
        if self.config.labels_repo:
            self._start_labels_export()

    def _start_ratings_export(self) -> None:
        from genemail.exports.ratings import start_export

        try:
            self.exporter = start_export(self.store, self.config.ratings_repo, self._work_dir / "ratings_export",
                                         token=self.config.token)
        except GenEmailError as err:  # ratings stay local; the app says so on the Rate tab
            self.export_error = str(err)
            logger.warning("ratings export not started: %s", err)

    def _start_labels_export(self) -> None:
        from genemail.exports.labels import start_labels_export

        try:
            self.labels_exporter = start_labels_export(self.labels.store, self.config.labels_repo,
                                                       self._work_dir / "labels_export", token=self.config.token)
        except GenEmailError as err:  # labels stay local
            logger.warning("labels export not started: %s", err)

    def close(self) -> None:
        """Stop the exports (a last push runs in its own thread)."""
        for exporter in (self.exporter, self.labels_exporter):
            if exporter is not None:
                exporter.stop()

    @property
    def ready(self) -> bool:
        return self._snapshot is not None

    @property
    def snapshot(self) -> LoadedSystem:
        """The current release; :class:`HubError` saying how to get one when none is loaded."""
        snap = self._snapshot
        if snap is None:
            what = f"no release is loaded ({self.load_error})" if self.load_error else "no release is loaded"
            raise HubError(what, where=f"{self.config.release_repo}@{self.config.revision}", fix=NO_RELEASE_FIX)
        return snap

    @property
    def work_dir(self) -> Path:
        return self._work_dir

    # -- customers -----------------------------------------------------------------------------
    @property
    def table(self) -> CustomerTable:
        """The demo customers (``customers_path`` if configured, else seeded synthetic customers)."""
        if self._customers is None:
            from genemail.data.table import CustomerTable

            self._customers = CustomerTable.load(self.config.customers_path, n_synthetic=self.config.n_demo_customers,
                                                 seed=self.config.demo_seed)
        return self._customers

    @property
    def customers(self) -> pd.DataFrame:
        """The demo customer table (internal schema), indexed by ``customer_id``."""
        return self.table.frame

    def customer_ids(self, limit: int | None = None) -> list[str]:
        """Customer IDs of the demo table, in file order (the first ``limit``)."""
        return self.table.ids(limit)

    def customer_segments(self, limit: int | None = None) -> dict[str, str]:
        """Customer ID -> L2 segment of the first ``limit`` demo customers (empty without a release).

        Cached per release: the customer list shows each customer's segment, and segmenting a
        thousand rows once is cheap next to doing it on every page load.
        """
        if not self.ready:
            return {}
        snap = self.snapshot
        key = ("segments", snap.release_sha or str(snap.segmenter_dir), limit)
        cached = self._overviews.get(str(key))
        if cached is None:
            frame = self.customers.head(limit) if limit else self.customers
            scored = snap.segmenter.segment(frame.reset_index(drop=True))
            cached = dict(zip(frame.index.astype(str), scored["l2"].fillna(taxonomy.COLD_START).astype(str)))
            self._overviews[str(key)] = cached
        return cached

    def segment_name(self, segment: str, lang: str) -> str | None:
        """The loaded strategies' display name of ``segment`` in ``lang``; None when they have none."""
        text = self.strategy_text(segment, lang)
        return text.display_name if text is not None else None

    def strategy_text(self, segment: str, lang: str) -> Any:
        """The loaded strategy of ``segment`` in ``lang`` (tone, greeting, ...); None when it has no such text."""
        if not self.ready:
            return None
        try:
            strategy = self.snapshot.strategies.for_segment(str(segment))
            return strategy.text(lang) if lang in strategy.languages else None
        except GenEmailError:
            return None

    def check_upload(self, path: str | Path | None, kind: str) -> Path | None:
        """Refuse an upload that is too big or of the wrong type, as it arrives (``kind``: customers/outcomes).

        A customer file is also read, so a file the campaign cannot use is refused now, not at Run.
        """
        if not path:
            return None
        file = Path(path)
        types, limit_mb = ((CUSTOMER_FILE_TYPES, CUSTOMER_FILE_MAX_MB) if kind == "customers"
                           else (OUTCOME_FILE_TYPES, OUTCOME_FILE_MAX_MB))
        if file.suffix.lower() not in types:
            raise DataError(f"a {file.suffix or 'nameless'} file cannot be read here", where=file.name,
                            fix=f"upload one of these file types: {', '.join(types)}")
        size_mb = file.stat().st_size / 1e6
        if size_mb > limit_mb:
            raise DataError(f"the file is {size_mb:.1f} MB, more than the {limit_mb} MB allowed here", where=file.name,
                            fix="upload a smaller file (split it, or keep only the rows you need)")
        if file.stat().st_size == 0:
            raise DataError("the file is empty", where=file.name, fix="upload the file again, with its rows")
        if kind == "customers":
            from genemail.pipeline.campaign import campaign_customers

            campaign_customers(str(file), self.customers.head(0), self.config.max_campaign_rows)
        return file

    # -- segmenting and composing --------------------------------------------------------------
    def segment(self, customer_id: str) -> SegmentView:
        """Segment, probabilities, reasons and strategy of a known customer."""
        from genemail.generation.compose import describe

        return describe(self.snapshot, self.table.row(customer_id), self.config.lang)[0][0]

    def segment_new(self, fields: Mapping[str, Any]) -> SegmentView:
        """The same for a new customer described by the form (cold start when data are thin)."""
        from genemail.data.table import form_customer
        from genemail.generation.compose import describe

        return describe(self.snapshot, form_customer(fields), self.config.lang)[0][0]

    def compose(self, customer_id: str, options: GenerationOptions | None = None,
                user_embedding: bool = False) -> ComposeResult:
        """Segmented email beside the baseline email for a known customer; ``user_embedding`` adds the
        customer's user-vector tokens (FR-13) beside the segment adapter."""
        return self._compose(self.snapshot, self.table.row(customer_id), options, user_embedding)

    def compose_new(self, fields: Mapping[str, Any], options: GenerationOptions | None = None) -> ComposeResult:
        """The same for a new customer from the form."""
        from genemail.data.table import form_customer

        return self._compose(self.snapshot, form_customer(fields), options)

    def _compose(self, snap: LoadedSystem, frame: pd.DataFrame, options: GenerationOptions | None,
                 user_embedding: bool = False) -> ComposeResult:
        from genemail.generation.compose import compose

        config = (options or GenerationOptions()).generation_config(self.config.lang)
        if not user_embedding:
            return compose(snap, frame, config, release=snap.release_info)
        soft = self._soft_prompt(snap, frame)
        return compose(snap, frame, config, release=snap.release_info, soft_prompt=soft.prompts[0],
                       embedding_ms=1000 * soft.seconds)

    def _soft_prompt(self, snap: LoadedSystem, frame: pd.DataFrame) -> Any:
        """The customer's user-vector tokens, from events synthesized from its own row (the app has no events file)."""
        import pandas as pd

        from genemail.user_vector.runtime import soft_prompts_for_frame

        if snap.user_vector is None:
            raise ConfigError("the loaded release has no user vector", where="Compose, with user embedding",
                              fix="load a release built by `make train` (it trains user_vector/), or switch it off")
        # Sequence features depend on event times relative to the reference date only, so today serves.
        return soft_prompts_for_frame(snap.user_vector, frame, pd.Timestamp.today().normalize())

    # -- rating --------------------------------------------------------------------------------
    @property
    def ratings(self) -> RatingWorkflow:
        if self._ratings is None:
            from genemail.ratings.workflow import RatingWorkflow

            self._ratings = RatingWorkflow(self.config.ratings_db, self.config.pair_cache_size)
        return self._ratings

    @property
    def store(self) -> RatingsStore:
        return self.ratings.store

    def next_pair(self, customer_id: str | None = None, options: GenerationOptions | None = None) -> RatingPair:
        """A blind pair for rating: one customer's segmented and baseline emails, sides randomized."""
        snap, options = self.snapshot, options or GenerationOptions()
        key = str(customer_id).strip() if customer_id else secrets.choice(self.customer_ids())
        return self.ratings.pair((snap.release_sha, key, options),
                                 lambda: self._compose(snap, self.table.row(key), options),
                                 baseline_adapter_sha=snap.adapter_sha(taxonomy.BASELINE) or "")

    def rate(self, pair: RatingPair, *, rater: str, choice: str, score_a: int, score_b: int,
             comment: str = "") -> int:
        """Store one rating of ``pair`` (A = left, B = right); return its ``rating_id`` (idempotent)."""
        return self.ratings.rate(pair, rater=rater, choice=choice, score_a=score_a, score_b=score_b, comment=comment)

    def rating_number(self, rating_id: int) -> int:
        """The rating's place among the stored ratings (1, 2, 3, ... without the gaps row ids may have)."""
        return _rank(Path(self.config.ratings_db), "ratings", "rating_id", rating_id)

    def label_number(self, label_id: int) -> int:
        """The label's place among the stored labels (1, 2, 3, ... without gaps)."""
        return _rank(Path(self.config.labels_db), "labels", "label_id", label_id)

    def stats(self) -> tuple[dict[str, Any], pd.DataFrame]:
        """The live rating statistics: ``(summary dict, tidy table)``."""
        return self.ratings.stats()

    # -- hand labels (KR1) ----------------------------------------------------------------------
    @property
    def labels(self) -> LabelWorkflow:
        if self._labels is None:
            from genemail.labels.workflow import LabelWorkflow

            self._labels = LabelWorkflow(self.config.labels_db)
        return self._labels

    def next_label(self, rater: str, customer_id: str | None = None) -> LabelTask:
        """The next customer ``rater`` should label (segments covered, borderline first), shown blind."""
        snap = self.snapshot
        return self.labels.next_task(rater, self.customers, snap.segmenter, snap.release_info, customer_id)

    def label(self, task: LabelTask, *, rater: str, l1: str, l2: str, note: str = "") -> int:
        """Store a labeler's tier and segment for ``task``; return the ``label_id`` (idempotent)."""
        return self.labels.submit(task, rater=rater, l1=l1, l2=l2, note=note)

    # -- campaign ------------------------------------------------------------------------------
    def experiment_plan(self, name: str, control: float, holdout: float, seed: int,
                        field: str = "Experiment name") -> ExperimentConfig:
        """An experiment's arms for a campaign from the page; a bad name or split names its field."""
        from genemail.experiments.assignment import NAME_PATTERN, ExperimentConfig

        if not NAME_PATTERN.fullmatch(name):
            raise DataError(f"{name[:40]!r} cannot name an experiment", where=field,
                            fix="use letters, digits, '.', '_' or '-', starting with a letter or digit, "
                                "e.g. spring-2026")
        if control + holdout >= 1:
            raise DataError("the control and holdout shares leave no customer for the segmented email",
                            where=field, fix="keep control + holdout below 100%, e.g. 20% and 10%")
        return ExperimentConfig(name=name, control=control, holdout=holdout, seed=seed)

    def campaign(self, source: str | Path | int, options: GenerationOptions | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 experiment: ExperimentConfig | None = None) -> CampaignResult:
        """Segment and generate, in mixed batches, for an uploaded file (a path) or the first ``n`` demo customers.

        Writes ``campaign.jsonl`` and ``campaign.csv`` (one row per customer) under :attr:`work_dir`;
        ``progress(done, total)`` is called after every batch. With ``experiment`` every customer
        gets an arm and the JSONL file is the experiment's send log (the Results tab ingests it).
        """
        from genemail.pipeline.campaign import campaign_customers, campaign_tables, run_campaign

        snap = self.snapshot
        frame, report = campaign_customers(source, self.customers, self.config.max_campaign_rows)
        out_dir = self._work_dir / "campaigns" / f"{clock.folder_stamp()}-{secrets.token_hex(3)}"
        config = (options or GenerationOptions()).generation_config(self.config.lang)
        summary = run_campaign(frame, snap.segmenter, snap.strategies, snap.generator, out_dir / "campaign.jsonl",
                               config, batch_size=self.config.batch_size, progress=False,
                               release_info=snap.release_info, on_progress=progress, experiment=experiment)
        return campaign_tables(summary, report)

    # -- strategy studio ----------------------------------------------------------------------
    @property
    def studio(self) -> StudioService:
        """The strategy studio's back end (preview, thresholds, save, retraining): :mod:`genemail.studio`."""
        if self._studio is None:
            from genemail.studio.service import StudioService

            self._studio = StudioService(self)
        return self._studio

    # -- experiment results --------------------------------------------------------------------
    def experiments(self) -> list[str]:
        """Experiments in the results database (none before the first ingest)."""
        from genemail.experiments.report import list_experiments

        if not Path(self.config.results_db).is_file():
            return []
        return list_experiments(self.config.results_db)

    def results(self, experiment: str, metric: str = "click") -> tuple[dict[str, Any], pd.DataFrame]:
        """The experiment's report (rates, intervals, lift, P(win), decisions) and its cumulative rates."""
        from genemail.experiments.report import cumulative_rates, experiment_report

        report = experiment_report(self.config.results_db, experiment, metric)
        return report, cumulative_rates(self.config.results_db, experiment, metric)

    def ingest(self, send_log: str | Path, events: str | Path) -> IngestResult:
        """Ingest an outcome-events file for a send log (idempotent: a second ingest adds nothing)."""
        from genemail.experiments.ingest import ingest_events

        if not send_log or not events:
            raise DataError("both the campaign's send log and the events file are needed", where="Results tab",
                            fix="upload the send log written by an experiment campaign and the platform's events export")
        result = ingest_events(self.config.results_db, Path(send_log), Path(events))
        self._record_qa(Path(send_log), result.experiment)
        return result

    def _qa_path(self) -> Path:
        """The quality-check counts of ingested send logs, beside the results database."""
        db = Path(self.config.results_db)
        return db.with_name(db.stem + "-qa.json")

    def _record_qa(self, send_log: Path, experiment: str) -> None:
        """Keep the send log's quality-check verdicts per segment and arm (the results store keeps none).

        Counts, not rows: the Results tab shows per segment and arm how many emails passed the
        check on the first draft, on a later draft, or went out as the template email.
        """
        import json

        from genemail.experiments.tables import iter_chunks, table_format

        counts: dict[str, dict[str, int]] = {}
        fmt = table_format(send_log)
        for chunk in iter_chunks(send_log, fmt):
            for record in chunk.records:
                if str(record.get("experiment")) != experiment or record.get("arm") == "holdout":
                    continue
                key = f"{record.get('l2') or record.get('segment')}|{record.get('arm')}"
                verdict = _verdict(record.get("qa_status"), record.get("qa_attempts"))
                entry = counts.setdefault(key, {"first_draft": 0, "later_draft": 0, "template": 0, "unchecked": 0})
                entry[verdict] += 1
        path = self._qa_path()
        stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        stored[experiment] = counts  # the latest send log of an experiment is the one its report stands on
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    def qa_counts(self, experiment: str) -> dict[tuple[str, str], dict[str, int]]:
        """(segment, arm) -> emails that passed the check on the first draft, a later one, or were the template."""
        import json

        path = self._qa_path()
        if not path.is_file():
            return {}
        found = json.loads(path.read_text(encoding="utf-8")).get(experiment, {})
        return {tuple(key.split("|", 1)): value for key, value in found.items()}  # type: ignore[misc]

    # -- segment explorer ----------------------------------------------------------------------
    def segment_overview(self) -> dict[str, Any]:
        """Segment sizes of the demo customers plus the release's cluster analysis (cached per release)."""
        from genemail.segmentation.overview import segment_overview

        snap = self.snapshot
        key = snap.release_sha or str(snap.segmenter_dir)
        cached = self._overviews.get(key)
        if cached is None:
            overview = segment_overview(snap.segmenter, self.customers, snap.segmenter_dir)
            cached = {"sizes": overview.sizes, "clusters": overview.clusters,
                      "plots": self._served_copies(key, overview.plots)}
            self._overviews[key] = cached
        return cached

    def segment_drift(self, before: str | Path | None, after: str | Path | None) -> dict[str, Any]:
        """Two snapshots of the customer table through the loaded segmenter: migration, PSI, verdict.

        ``before`` empty means the demo customers; ``after`` is required (an uploaded file).
        """
        from genemail.data.loader import load_customers
        from genemail.segmentation.drift import drift_report, migration_shares, model_trained_at

        if not after:
            raise DataError("no later snapshot given", where="Segments tab, drift",
                            fix="upload the later customer file (genemail segment synth-drift makes one to try)")
        snap = self.snapshot
        first = self.customers if not before else load_customers(Path(before)).frame
        second = load_customers(Path(after)).frame
        stamp, source = model_trained_at(snap.segmenter_dir)
        report = drift_report(snap.segmenter, first, second, trained_at=stamp, trained_at_source=source)
        return {"report": report, "shares": migration_shares(report.migration)}

    def _served_copies(self, key: str, plots: Mapping[str, Path]) -> dict[str, Path]:
        """Copy the release's plots under :attr:`work_dir`: a web app may serve that folder, not the Hub cache."""
        import shutil

        target = self._work_dir / "plots" / key[:12]
        target.mkdir(parents=True, exist_ok=True)
        return {name: Path(shutil.copy2(source, target / source.name)) for name, source in plots.items()}

    # -- releases ------------------------------------------------------------------------------
    def switch(self, revision: str) -> LoadedSystem:
        """Load ``revision`` (or ``"latest"``: the newest tag) and make it current; the old one stays on failure."""
        from genemail.loading import load_release

        revision = str(revision or "").strip()
        if not revision:
            raise config_error("revision", revision, "a release tag such as v1 (see the list of tags)")
        if revision == LATEST:
            revision = self._latest_tag()
        with self._switch_lock:
            try:
                snap = load_release(self.config.release_repo, revision, token=self.config.token)
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
        """Release tags on the Hub, in natural order (newest last)."""
        from genemail.hub.release import list_release_tags

        return list(list_release_tags(self.config.release_repo, token=self.config.token))

    def release_rows(self) -> list[dict[str, str]]:
        """One row per pinned artifact of the current release: name, repo, type, sha, card link."""
        from genemail.hub.cards import tree_url

        snap = self.snapshot
        endpoint = (self.config.hf_endpoint or "https://huggingface.co").rstrip("/")
        rows = [{"artifact": "release", "repo_id": str(snap.repo_id), "repo_type": "model",
                 "sha": str(snap.release_sha), "card": tree_url(endpoint, str(snap.repo_id), "model", str(snap.release_sha))}]
        pins = snap.manifest.pins() if snap.manifest is not None else {}
        for name, pin in pins.items():
            rows.append({"artifact": name, "repo_id": pin.repo_id, "repo_type": pin.repo_type, "sha": pin.sha,
                         "card": tree_url(endpoint, pin.repo_id, pin.repo_type, pin.sha)})
        return rows


def _verdict(status: Any, attempts: Any) -> str:
    """A send-log row's quality-check verdict: first_draft, later_draft, template or unchecked."""
    if status in (None, "") or status != status:  # NaN from a CSV send log
        return "unchecked"
    if str(status) != "passed":
        return "template"
    try:
        return "first_draft" if int(attempts) <= 1 else "later_draft"
    except (TypeError, ValueError):
        return "first_draft"


def _rank(db: Path, table: str, column: str, row_id: int) -> int:
    """How many rows of ``table`` have ``column <= row_id`` (a read-only look at the store's file)."""
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} <= ?", (int(row_id),)).fetchone()[0])
