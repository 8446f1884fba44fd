"""Campaign: segment a whole customer table and write every customer's email, in mixed batches.

Input: :func:`campaign_customers` turns an uploaded file or "the first N customers" into a table
within a size limit. Run: :func:`run_campaign` writes one JSONL row per customer: who (customer_id),
why (l1, l2, cold-start reason, strategy), what (email, baseline email) and from which artifacts
(adapter repo + sha, release revision). The file is written to ``<out>.partial`` and renamed when
complete, so a crashed run never leaves a file that looks finished. Output: :func:`campaign_tables`
adds a spreadsheet-friendly CSV, a preview and the counts per segment.

An experiment's control arm normally gets the one-size-fits-all baseline email. With a
:class:`ControlSource` it gets another release's *segmented* email instead (the same customer's
segment adapter of, say, release v1 while the segmented arm gets v2's): that is how one turn of the
learning loop is measured, new adapters against their parents on the same kind of customers, with
nothing but the adapters differing (``training/loop.py``, docs/LOOP.md).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genemail.clock import utc_now
from genemail.data.loader import load_customers
from genemail.errors import DataError, config_error
from genemail.experiments.assignment import CONTROL, HOLDOUT
from genemail.experiments.assignment import SEGMENTED as ARM_SEGMENTED
from genemail.experiments.assignment import assign_arms
from genemail.experiments.sendlog import CAMPAIGN_COVARIATES, send_log_row
from genemail.generation.gate import QualityGate, qa_summary
from genemail.generation.generator import BASELINE_VARIANT, SEGMENTED, GenerationConfig
from genemail.generation.prompts import profile_from_row
from genemail.taxonomy import BASELINE, COLD_START

if TYPE_CHECKING:
    import pandas as pd

    from genemail.experiments.assignment import ExperimentConfig
    from genemail.generation.generator import EmailGenerator, GeneratedEmail
    from genemail.generation.gate import QA
    from genemail.generation.strategies import Strategy, StrategyBook

SEGMENT_COLUMNS: tuple[str, ...] = ("customer_id", "l1", "l2")
PREVIEW_ROWS = 20
PREVIEW_COLUMNS: tuple[str, ...] = ("customer_id", "l1", "l2", "strategy", "email", "qa_status", "baseline_email",
                                     "baseline_qa_status")


class Segmenter(Protocol):
    """Anything with ``segment(customers_df) -> DataFrame[customer_id, l1, l2, ...]``."""

    def segment(self, X: "pd.DataFrame") -> "pd.DataFrame": ...


@dataclass(frozen=True)
class ControlSource:
    """Where an experiment's control arm gets its emails when not from the baseline adapter.

    ``generator`` and ``strategies`` belong to the other release (e.g. the parent release v1);
    each control customer gets that release's email for their segment (same segment as the
    segmented arm: customers are segmented once, by the campaign's own segmenter). ``release_info``
    (``repo_id``, ``revision``, ``sha``) is written into the control rows, so the report lists both releases.
    """

    generator: "EmailGenerator"
    strategies: "StrategyBook"
    release_info: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CampaignSummary:
    """What a campaign run produced."""

    out_path: Path
    n_customers: int
    by_segment: dict[str, int]
    cold_start: int
    seconds: float
    emails_per_s: float
    release: dict[str, Any] | None
    by_arm: dict[str, int] | None = None  # customers per arm, in an experiment
    experiment: str | None = None
    # The quality gate per variant: emails, first-attempt passes, passes, template fallbacks, failed checks.
    qa: dict[str, dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for logs and the app)."""
        d = asdict(self)
        d["out_path"] = str(self.out_path)
        return d


# Batches written per generate call: the gate's redraws of their refused drafts share one batch (a redraw
# of one row costs a decoding loop about as long as a whole batch's).
GROUP_BATCHES = 8


def run_campaign(customers_df: "pd.DataFrame", segmenter: Segmenter, strategies: "StrategyBook",
                 generator: "EmailGenerator", out_path: Path, config: "GenerationConfig | None" = None,
                 batch_size: int = 16, progress: bool = True, release_info: Mapping[str, Any] | None = None,
                 on_progress: Callable[[int, int], None] | None = None,
                 experiment: "ExperimentConfig | None" = None,
                 control_source: ControlSource | None = None,
                 soft_prompts: Sequence[Any] | None = None) -> CampaignSummary:
    """Segment ``customers_df`` and write one email row per customer to ``out_path`` (JSONL).

    Without ``experiment`` every row holds the segmented and the baseline email. With it, the file
    is the experiment's send log: each customer is assigned an arm (``genemail.experiments``) and
    only the email of that arm is written (none for the holdout); rows gain ``experiment``, ``arm``
    and ``sent_at``. ``release_info`` (``repo_id``, ``revision``, ``sha``) is copied into every row.
    Customers are written ``GROUP_BATCHES`` batches at a time, so the gate's redraws of those batches share
    one call; the rows of a group are written (and ``on_progress(done, total)`` called, the app's progress
    bar) when the group is done.
    ``control_source`` (experiments only) gives the control arm another release's segmented emails.
    ``soft_prompts`` (one per customer row, FR-13's user embedding) go beside each segmented email's
    adapter; rows then gain ``user_embedding``.
    """
    from tqdm.auto import tqdm


    if not isinstance(batch_size, int) or batch_size < 1:
        raise config_error("batch_size", batch_size, "a positive integer")
    config = config or GenerationConfig()
    if control_source is not None and experiment is None:
        raise config_error("control_source", "a control release", "None unless the campaign is an experiment")
    if soft_prompts is not None and (control_source is not None or len(soft_prompts) != len(customers_df)):
        raise config_error("soft_prompts", f"{len(soft_prompts)} soft prompts",
                           f"one per customer ({len(customers_df)}), and no control release")
    segments = _segment(customers_df, segmenter)
    chosen = [strategies.for_segment(name) for name in segments["l2"]]  # one lookup per customer
    other = None if control_source is None else [control_source.strategies.for_segment(n) for n in segments["l2"]]
    arms = _arms(segments, experiment)
    covariates = _covariates(customers_df) if experiment is not None else [None] * len(customers_df)
    profiles = [profile_from_row(row) for row in customers_df.to_dict("records")]
    release = dict(release_info) if release_info else None
    infos = segments.to_dict("records")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    total, t0 = len(profiles), time.perf_counter()
    gate = QualityGate(strategies, config.lang)
    control_gate = gate if control_source is None else QualityGate(control_source.strategies, config.lang)
    qas: dict[str, list[Any]] = {"segmented": [], "baseline": []}
    with partial.open("w", encoding="utf-8") as fh, tqdm(total=total, desc="campaign", unit="email",
                                                         disable=not progress) as bar:
        reported = [0]

        def report(done: int) -> None:  # customers whose drafts are written, each count once
            if done > reported[0]:
                bar.update(done - reported[0])
                reported[0] = done
                if on_progress is not None:
                    on_progress(done, total)

        for start in range(0, total, batch_size * GROUP_BATCHES):
            stop = min(start + batch_size * GROUP_BATCHES, total)
            if control_source is None:
                written = _write_batch(generator, profiles, chosen, arms, config, start, stop, gate, batch_size,
                                       soft_prompts, report)
            else:
                written = _write_two_releases(generator, control_source.generator, profiles, chosen, other, arms,
                                              config, start, stop, (gate, control_gate), batch_size)
            for email in written.values():
                qas["segmented"] += [email.qa] if email.qa else []
                qas["baseline"] += [email.baseline_qa] if email.baseline_qa else []
            sent_at = utc_now("microseconds")
            for i in range(start, stop):
                if control_source is not None and arms[i] == CONTROL:
                    row = _control_release_row(written.get(i), infos[i], other[i], config.lang, control_source,
                                               experiment, sent_at, covariates[i])
                else:
                    row = _row(written.get(i), infos[i], chosen[i], config.lang, release)
                    if soft_prompts is not None:
                        row["user_embedding"] = bool(written.get(i) and written[i].user_embedding)
                    if experiment is not None:
                        row = _send_log_row(row, experiment, arms[i], sent_at, generator, covariates[i])
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            report(stop)
    partial.replace(out_path)
    seconds = time.perf_counter() - t0
    counts = Counter(segments["l2"])
    return CampaignSummary(out_path=out_path, n_customers=total, by_segment=dict(sorted(counts.items())),
                           cold_start=counts.get(COLD_START, 0), seconds=round(seconds, 2),
                           emails_per_s=round(total / seconds, 2) if seconds > 0 else 0.0, release=release,
                           by_arm=dict(sorted(Counter(arms).items())) if experiment is not None else None,
                           experiment=experiment.name if experiment is not None else None,
                           qa={name: qa_summary(found) for name, found in qas.items() if found})


def _arms(segments: "pd.DataFrame", experiment: "ExperimentConfig | None") -> list[str | None]:
    """Each customer's arm (None for everyone without an experiment)."""
    if experiment is None:
        return [None] * len(segments)

    return list(assign_arms(segments["customer_id"].astype(str).tolist(), segments["l2"].astype(str).tolist(),
                            experiment))


def _write_batch(generator: "EmailGenerator", profiles: list[Any], chosen: list[Any], arms: list[str | None],
                 config: "GenerationConfig", start: int, stop: int, gate: "QualityGate", batch_size: int,
                 soft_prompts: Sequence[Any] | None = None,
                 report: Callable[[int], None] | None = None) -> dict[int, "GeneratedEmail"]:
    """The emails of customers ``start..stop`` (mixed batches of ``batch_size``): both, or only the one an arm sends."""
    rows = [i for i in range(start, stop) if arms[i] != HOLDOUT]
    if not rows:
        return {}
    only = None if arms[start] is None else [BASELINE_VARIANT if arms[i] == CONTROL else SEGMENTED for i in rows]
    emails = generator.generate([profiles[i] for i in rows], [chosen[i] for i in rows], config,
                                batch_size=batch_size, only=only, gate=gate,
                                soft_prompts=None if soft_prompts is None else [soft_prompts[i] for i in rows],
                                on_progress=None if report is None else lambda n: report(rows[n - 1] + 1))
    return dict(zip(rows, emails))


def _write_two_releases(generator: "EmailGenerator", control: "EmailGenerator", profiles: list[Any],
                        chosen: list[Any], other: list[Any], arms: list[str | None], config: "GenerationConfig",
                        start: int, stop: int, gates: tuple["QualityGate", "QualityGate"],
                        batch_size: int) -> dict[int, "GeneratedEmail"]:
    """Segmented rows from ``generator``, control rows from ``control``: each its release's segment email."""

    out: dict[int, "GeneratedEmail"] = {}
    for gen, arm, strategies, gate in ((generator, ARM_SEGMENTED, chosen, gates[0]), (control, CONTROL, other, gates[1])):
        rows = [i for i in range(start, stop) if arms[i] == arm]
        if rows:
            emails = gen.generate([profiles[i] for i in rows], [strategies[i] for i in rows], config,
                                  batch_size=batch_size, only=[SEGMENTED] * len(rows), gate=gate)
            out.update(zip(rows, emails))
    return out


def _covariates(customers_df: "pd.DataFrame") -> list[dict[str, Any]]:
    """Each customer's pre-period covariates for the send log (``pre_*`` names; NaN where unknown)."""
    columns = {name: customers_df[column].tolist() for name, column in CAMPAIGN_COVARIATES.items()
               if column in customers_df.columns}
    return [{name: values[i] for name, values in columns.items()} for i in range(len(customers_df))]


def _control_release_row(email: "GeneratedEmail | None", info: Mapping[str, Any], strategy: "Strategy", lang: str,
                         source: ControlSource, experiment: "ExperimentConfig | None",
                         sent_at: str, covariates: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A control row whose email is the other release's segmented email, naming that release and adapter."""
    assert experiment is not None and email is not None  # control rows exist only in an experiment, with an email
    row = _row(email, info, strategy, lang, source.release_info)
    adapter = {"adapter": strategy.adapter, "adapter_repo": email.adapter_repo, "adapter_sha": email.adapter_revision}
    # send_log_row sends a control row's baseline email and its verdict ...
    row.update(baseline_email=email.email, baseline_email_template=email.email_template, **qa_fields(email.qa, "baseline_"))
    row = send_log_row(row, experiment=experiment.name, arm=CONTROL, sent_at=sent_at, baseline_adapter=adapter,
                       covariates=covariates)
    row["baseline_email"] = None  # ... and no baseline email was written for this customer
    return row


def _send_log_row(row: dict[str, Any], experiment: "ExperimentConfig", arm: str | None, sent_at: str,
                  generator: "EmailGenerator", covariates: Mapping[str, Any] | None = None) -> dict[str, Any]:

    baseline = generator.adapter_ref(BASELINE) if BASELINE in generator.adapter_names else None
    adapter = {"adapter": BASELINE, "adapter_repo": baseline.repo_id if baseline else None,
               "adapter_sha": baseline.revision if baseline else None}
    return send_log_row(row, experiment=experiment.name, arm=str(arm), sent_at=sent_at, baseline_adapter=adapter,
                        covariates=covariates)


@dataclass(frozen=True)
class CampaignResult:
    """A finished campaign's files and summaries (what the app's Campaign tab shows)."""

    jsonl_path: Path
    csv_path: Path
    n_customers: int
    preview: "pd.DataFrame"
    counts: "pd.DataFrame"
    seconds: float
    report: str = ""
    qa: dict[str, dict[str, Any]] | None = None  # the quality gate's counts per variant (CampaignSummary.qa)


def campaign_customers(source: str | Path | int, demo: "pd.DataFrame", limit: int,
                       where: str = "Campaign tab") -> tuple["pd.DataFrame", str]:
    """The customers of a campaign: the first ``source`` rows of ``demo``, or the file ``source``.

    Returns the table (internal schema) and the loader's cleaning report (empty for demo rows).
    """

    if isinstance(source, (int, float)) and not isinstance(source, bool):
        top = min(limit, len(demo))
        if int(source) != source or not 1 <= source <= top:
            raise DataError(f"N={source!r} customers is out of range", where=where,
                            fix=f"choose N from 1 to {top}, or upload a file")
        return demo.head(int(source)).reset_index(drop=True), ""
    if not source:
        raise DataError("no customer file and no N given", where=where,
                        fix="upload a CSV/Parquet customer file or choose N demo customers")
    loaded = load_customers(Path(source))  # DataError names file, row and column
    if len(loaded.frame) > limit:
        raise DataError(f"the file has {len(loaded.frame)} customers, more than the app's limit of {limit}",
                        where=Path(source).name, fix="split the file, or run `genemail campaign` from the CLI")
    return loaded.frame.reset_index(drop=True), loaded.report.summary()


def campaign_tables(summary: CampaignSummary, report: str = "") -> CampaignResult:
    """Add ``<out>.csv`` (with a BOM, so spreadsheet apps read Chinese text right), a preview, the counts."""
    import pandas as pd

    rows = pd.read_json(summary.out_path, lines=True, dtype={"customer_id": str})
    csv_path = summary.out_path.with_suffix(".csv")
    rows.to_csv(csv_path, index=False, encoding="utf-8-sig")
    counts = rows.groupby(["l1", "l2"], dropna=False).size().reset_index(name="customers")
    preview = rows.head(PREVIEW_ROWS)[[c for c in PREVIEW_COLUMNS if c in rows.columns]]
    return CampaignResult(summary.out_path, csv_path, len(rows), preview, counts, summary.seconds, report, summary.qa)


def _segment(customers_df: "pd.DataFrame", segmenter: Segmenter) -> "pd.DataFrame":
    """The segmenter's table aligned row by row with ``customers_df``; missing L2 -> cold start."""
    if "customer_id" not in customers_df.columns:
        raise DataError("the customer table has no customer_id column", where="customer_id",
                        fix="load customers with genemail.data.load_customers")
    if len(customers_df) == 0:
        raise DataError("the customer table is empty", fix="pass a table with at least one customer")
    seg = segmenter.segment(customers_df)
    missing = [c for c in SEGMENT_COLUMNS if c not in seg.columns]
    if missing or len(seg) != len(customers_df):
        raise DataError(f"the segmenter returned {len(seg)} rows with columns {list(seg.columns)}",
                        where="segmenter.segment", fix=f"return one row per customer with {list(SEGMENT_COLUMNS)}")
    seg = seg.reset_index(drop=True).astype({"customer_id": "string"})
    ids = customers_df["customer_id"].astype("string").reset_index(drop=True)
    if not (seg["customer_id"] == ids).all():
        raise DataError("segmenter rows are not in the customer table's order", where="segmenter.segment",
                        fix="return rows in the input order")
    seg["l2"] = seg["l2"].astype(object).where(seg["l2"].notna(), COLD_START)
    return seg


def _row(email: "GeneratedEmail | None", info: Mapping[str, Any], strategy: "Strategy", lang: str,
         release: Mapping[str, Any] | None) -> dict[str, Any]:
    """One output row; ``email`` is None for a customer who gets no email (an experiment's holdout)."""
    release = release or {}
    return {
        "customer_id": str(info.get("customer_id")),
        "l1": _plain(info.get("l1")),
        "l2": strategy.segment,
        "l2_proba": _plain(info.get("l2_proba")),
        "cold_start_reason": _plain(info.get("cold_start_reason")),
        "strategy": strategy.text(lang).display_name,
        "email": email.email if email else None,
        "baseline_email": email.baseline_email if email else None,
        "adapter": strategy.adapter,
        "adapter_repo": email.adapter_repo if email else None,
        "adapter_sha": email.adapter_revision if email else None,
        "release_repo": release.get("repo_id"),
        "release_revision": release.get("revision"),
        "release_sha": release.get("sha"),
        "latency_s": email.latency_s if email else None,
        "new_tokens": email.new_tokens if email else 0,
        "baseline_new_tokens": email.baseline_new_tokens if email else 0,
        **qa_fields(email.qa if email else None),
        **qa_fields(email.baseline_qa if email else None, "baseline_"),
        "email_template": email.email_template if email else None,
        "baseline_email_template": email.baseline_template if email else None,
    }


def qa_fields(qa: "QA | None", prefix: str = "") -> dict[str, Any]:
    """An email's gate verdict as flat row fields (``qa_status``, ``qa_attempts``, ``qa_failed``)."""
    return {f"{prefix}qa_status": qa.status if qa else None, f"{prefix}qa_attempts": qa.attempts if qa else None,
            f"{prefix}qa_failed": ",".join(qa.failed) if qa else None}


def _plain(value: Any) -> Any:
    """pandas NA/NaN -> None, numpy scalars -> Python (JSON-safe)."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
