"""Outcomes become training data: preference pairs (TRL's prompt / chosen / rejected) per segment.

From an experiment's send log and events (the results database), for every segment:

* **chosen**: the email of a customer of the ``segmented`` arm who clicked (at or after the send);
* **rejected**: the email of a *comparable* customer of the same segment and arm, written by the
  same adapter commit, who received it (no bounce) and did not click;
* **prompt**: the chosen customer's segmented prompt (``build_prompt``), exactly what the adapter saw.

Both emails of a pair are written in slot form (the facts put back as merge tags, ``claims.unrender``),
as the adapter writes them; ``chosen_as_sent`` and ``rejected_as_sent`` keep the emails as sent.

**Comparable, so the rejected email fits the prompt.** DPO compares two completions of one prompt,
but the rejected email was written for another customer and states that customer's facts (days
since the last visit, children, favourite category, income tier, tenure), in the fixed forms of
:func:`genemail.generation.prompts.fact_phrases`. Each fact phrase of the rejected email is rewritten
to the chosen customer's value, so the pair differs only in the content the adapter chose (greeting,
body, call to action), never in the facts. A candidate is comparable when (1) its email states its
own customer's facts correctly (checked with :func:`genemail.evaluation.metrics.fact_consistency`),
(2) every fact it states is known for the chosen customer, and (3) after the rewrite the email is
fact-consistent with the chosen customer's profile and differs from the chosen email. A chosen
email that misstates its own customer's facts is not used either (DPO would learn the mistake).

**No customer on both sides.** Chosen customers clicked and rejected ones did not, so the two sets
are disjoint by construction; each rejected customer is used in one pair at most, and each chosen
customer in at most ``rejected_per_chosen`` pairs (rejected drawn at random, seeded).

Segments with fewer than ``min_pairs`` pairs are skipped (listed with the reason). The result is
written as a Hub dataset folder (:func:`write_preferences`): ``data/<segment>.jsonl``,
``preferences_info.json`` (experiment, release, adapter commit per segment, counts, method) and a
dataset card, byte-identical for identical inputs (no timestamps), so re-publishing it makes no commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError, config_error
from genemail.generation.claims import unrender
from genemail.experiments.assignment import SEGMENTED
from genemail.experiments.events import BOUNCE, CLICK, DELIVERED
from genemail.taxonomy import LANGS

if TYPE_CHECKING:
    import pandas as pd

    from genemail.generation.prompts import CustomerProfile
    from genemail.generation.strategies import StrategyBook

INFO_FILE = "preferences_info.json"
DATA_DIR = "data"
PAIR_FIELDS: tuple[str, ...] = ("prompt", "chosen", "rejected")
RECORD_FIELDS: tuple[str, ...] = (*PAIR_FIELDS, "segment", "chosen_customer_id", "rejected_customer_id",
                                  "rejected_as_sent", "adapter", "adapter_repo", "adapter_sha")
# Claim kind (genemail.evaluation.metrics) -> fact phrase key (genemail.generation.prompts.fact_phrases).
# kid_age shares its text with the children claim, so it needs no rewrite of its own.
_FACT_OF_CLAIM = {"recency": "recency_fact", "children": "children_fact", "category": "category_fact",
                  "income": "income_fact", "tenure": "tenure_fact"}


@dataclass(frozen=True)
class PreferenceConfig:
    """How pairs are formed (validated)."""

    rejected_per_chosen: int = 2
    min_pairs: int = 30
    seed: int = 0
    lang: str = "zh"

    def __post_init__(self) -> None:
        if isinstance(self.rejected_per_chosen, bool) or not isinstance(self.rejected_per_chosen, int) \
                or not 1 <= self.rejected_per_chosen <= 16:
            raise config_error("rejected_per_chosen", self.rejected_per_chosen, "an integer from 1 to 16")
        if isinstance(self.min_pairs, bool) or not isinstance(self.min_pairs, int) or self.min_pairs < 1:
            raise config_error("min_pairs", self.min_pairs, "a positive integer, e.g. 30")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise config_error("seed", self.seed, "an integer")
        if self.lang not in LANGS:
            raise config_error("lang", self.lang, "zh or en (the language the campaign was written in)")


@dataclass
class SegmentPairs:
    """One segment's pairs and how they were counted."""

    segment: str
    adapter: str | None
    adapter_repo: str | None
    adapter_sha: str | None
    sent: int = 0  # segmented-arm recipients with an email
    clicked: int = 0
    not_clicked: int = 0  # received (no bounce) and no click
    chosen_unusable: int = 0  # clicked, but the email misstates its customer's facts (or no profile)
    rejected_unusable: int = 0  # candidates never comparable to any chosen customer
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why the segment yields no training data

    @property
    def pairs(self) -> int:
        return len(self.records)

    def summary(self) -> dict[str, Any]:
        """Counts for the info file and the CLI (no records)."""
        out = {k: v for k, v in asdict(self).items() if k != "records"}
        out["pairs"] = self.pairs
        out["chosen_customers"] = len({r["chosen_customer_id"] for r in self.records})
        return out


@dataclass
class PreferenceSet:
    """Every segment's pairs plus where they came from."""

    experiment: str
    metric: str
    release: list[dict[str, Any]]
    config: PreferenceConfig
    segments: dict[str, SegmentPairs]

    @property
    def usable(self) -> dict[str, SegmentPairs]:
        """Segments with enough pairs to train on."""
        return {name: seg for name, seg in self.segments.items() if seg.skipped is None}

    def info(self) -> dict[str, Any]:
        """``preferences_info.json``: provenance, method and counts (deterministic: no timestamps)."""
        return {
            "format": "genemail.preferences", "format_version": 1,
            "experiment": self.experiment, "metric": self.metric, "arm": SEGMENTED, "release": self.release,
            "config": asdict(self.config),
            "method": ("chosen = a segmented-arm email whose customer clicked; rejected = a received, unclicked "
                       "email of the same segment and adapter commit, with its fact phrases rewritten to the "
                       "chosen customer's values; prompt = the chosen customer's segmented prompt"),
            "segments": {name: seg.summary() for name, seg in sorted(self.segments.items())},
            "files": {name: f"{DATA_DIR}/{name}.jsonl" for name in sorted(self.usable)},
        }


# --- outcomes per customer -----------------------------------------------------------------------
def _store(db_path: Path, experiment: str) -> Any:
    from genemail.experiments.store import ResultsStore

    if not db_path.is_file():
        raise DataError("no results database here", where=str(db_path),
                        fix="ingest the experiment first: genemail results ingest --campaign SENDLOG --events FILE")
    store = ResultsStore(db_path)
    if experiment not in store.experiments():
        raise DataError(f"experiment {experiment!r} is not in the results database (it has: "
                        f"{', '.join(store.experiments()) or 'none'})", where=str(db_path),
                        fix="pass one of those names with --experiment")
    return store


def _outcomes(store: Any, experiment: str) -> tuple[set[str], set[str], set[str] | None]:
    """(clickers, bounced, delivered or None when the experiment has no delivery events)."""
    clicked = set(store.first_events(experiment, CLICK)["customer_id"])
    bounced = set(store.first_events(experiment, BOUNCE)["customer_id"])
    delivered = set(store.first_events(experiment, DELIVERED)["customer_id"])
    # Some platforms export no delivery events: then "received" means "not bounced".
    return clicked, bounced, delivered or None


def _profiles(customers: "pd.DataFrame") -> dict[str, "CustomerProfile"]:
    from genemail.generation.prompts import profile_from_row

    if "customer_id" not in customers.columns:
        raise DataError("the customer table has no customer_id column", where="customers",
                        fix="pass the customer file the campaign was run on (genemail.data.load_customers)")
    return {str(row["customer_id"]): profile_from_row(row) for row in customers.to_dict("records")}


# --- comparability ---------------------------------------------------------------------------------
def consistent(email: str, profile: "CustomerProfile", lang: str) -> bool:
    """True when every fact ``email`` states matches ``profile`` (an email with no facts is consistent)."""
    from genemail.evaluation.metrics import fact_consistency

    return fact_consistency(email, profile, lang).consistent


def rewrite_facts(email: str, facts: Mapping[str, str], lang: str) -> str | None:
    """``email`` with each fact phrase replaced by ``facts``' (another customer's); None if one is unknown.

    ``facts`` is :func:`genemail.generation.prompts.fact_phrases` of the customer the email is rewritten for.
    """
    from genemail.evaluation.metrics import extract_claims

    replacements: dict[str, str] = {}
    for claim in extract_claims(email, lang):
        key = _FACT_OF_CLAIM.get(claim.kind)
        if key is None:
            continue
        if key not in facts:
            return None  # the email states a fact this customer does not have
        replacements[claim.text] = facts[key]
    out = email
    for old in sorted(replacements, key=len, reverse=True):  # longest first: "14 days" before "4 days"
        out = out.replace(old, replacements[old])
    return out


def comparable_rejected(chosen_email: str, chosen: "CustomerProfile", candidate_email: str, lang: str,
                        facts: Mapping[str, str]) -> str | None:
    """The candidate's email rewritten for the chosen customer, or None when it is not comparable."""
    rewritten = rewrite_facts(candidate_email, facts, lang)
    if rewritten is None or rewritten == chosen_email or not consistent(rewritten, chosen, lang):
        return None
    return rewritten


# --- pairs -----------------------------------------------------------------------------------------
def _segment_pairs(rows: "pd.DataFrame", outcomes: tuple[set[str], set[str], set[str] | None],
                   profiles: Mapping[str, "CustomerProfile"], book: "StrategyBook", config: PreferenceConfig,
                   info: SegmentPairs) -> None:
    """Fill ``info`` with the pairs of one (segment, adapter commit) group of segmented-arm rows."""
    import numpy as np

    from genemail.generation.prompts import build_prompt, fact_phrases

    clicked, bounced, delivered = outcomes
    lang = config.lang
    rows = rows.sort_values("customer_id", kind="stable")
    emails = dict(zip(rows["customer_id"], rows["email"]))
    info.sent = len(emails)
    chosen_ids = [c for c in emails if c in clicked]
    received = [c for c in emails if c not in clicked and c not in bounced and (delivered is None or c in delivered)]
    info.clicked, info.not_clicked = len(chosen_ids), len(received)
    # A rejected candidate must state its own facts correctly, else rewriting them cannot be trusted.
    pool = [c for c in received if c in profiles and consistent(emails[c], profiles[c], lang)]
    info.rejected_unusable = len(received) - len(pool)
    rng = np.random.default_rng([config.seed, int(hashlib.sha256(info.segment.encode()).hexdigest()[:8], 16)])
    chosen_ids = [chosen_ids[i] for i in rng.permutation(len(chosen_ids))]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    used: set[str] = set()
    strategy, wording = book.for_segment(info.segment), book.wording(lang)
    for customer in chosen_ids:
        profile = profiles.get(customer)
        if profile is None or not consistent(emails[customer], profile, lang):
            info.chosen_unusable += 1
            continue
        prompt, facts, taken = build_prompt(profile, strategy, lang), fact_phrases(profile, lang), 0
        for candidate in pool:
            if candidate in used:
                continue
            rejected = comparable_rejected(emails[customer], profile, emails[candidate], lang, facts)
            if rejected is None:
                continue
            used.add(candidate)
            # The adapter writes merge tags, so it learns from the pair in slot form (facts as tags).
            info.records.append({
                "prompt": prompt, "chosen": unrender(emails[customer], lang, wording),
                "rejected": unrender(rejected, lang, wording), "segment": info.segment,
                "chosen_customer_id": customer, "rejected_customer_id": candidate,
                "chosen_as_sent": emails[customer], "rejected_as_sent": emails[candidate], "adapter": info.adapter,
                "adapter_repo": info.adapter_repo, "adapter_sha": info.adapter_sha,
            })
            taken += 1
            if taken == config.rejected_per_chosen:
                break
    if info.pairs < config.min_pairs:
        info.skipped = f"{info.pairs} pairs, fewer than min_pairs={config.min_pairs}"


def build_preferences(db_path: Path, experiment: str, customers: "pd.DataFrame", strategies: "StrategyBook",
                      config: PreferenceConfig | None = None) -> PreferenceSet:
    """Preference pairs per segment from an experiment in the results database (see the module docstring).

    ``customers`` is the table the campaign was run on (internal schema): it rebuilds each customer's
    prompt. Rows of one segment written by several adapter commits (a send log of two releases) are
    paired within their commit only; the commit with the most rows is kept for the segment.
    """
    config = config or PreferenceConfig()
    store = _store(Path(db_path), experiment)
    sends = store.sends(experiment)
    sends = sends[(sends["arm"] == SEGMENTED) & sends["email"].notna()]
    if sends.empty:
        raise DataError(f"experiment {experiment!r} has no segmented-arm emails", where=str(db_path),
                        fix="build preferences from an experiment whose send log holds the segmented emails")
    outcomes, profiles = _outcomes(store, experiment), _profiles(customers)
    missing = sorted(set(sends["customer_id"]) - set(profiles))
    if len(missing) == len(set(sends["customer_id"])):
        raise DataError(f"none of the experiment's customers is in the customer table (e.g. {missing[0]!r})",
                        where="customers", fix="pass the customer file the campaign was run on")
    segments: dict[str, SegmentPairs] = {}
    for segment, part in sends.groupby("segment", sort=True):
        commits = part.groupby(part["adapter_sha"].fillna(""), sort=True).size().sort_values(ascending=False)
        sha = commits.index[0]
        group = part[part["adapter_sha"].fillna("") == sha]
        first = group.iloc[0]
        info = SegmentPairs(segment=str(segment), adapter=first["adapter"], adapter_repo=first["adapter_repo"],
                            adapter_sha=sha or None)
        if segment not in strategies.segments or strategies.for_segment(segment).adapter != segment:
            info.skipped = "no segment adapter of its own (cold start and baseline are not tuned)"
        else:
            _segment_pairs(group, outcomes, profiles, strategies, config, info)
        segments[str(segment)] = info
    return PreferenceSet(experiment, CLICK, store.releases(experiment), config, segments)


# --- the dataset folder ----------------------------------------------------------------------------
def write_preferences(prefs: PreferenceSet, out: Path) -> Path:
    """Write the dataset folder: ``data/<segment>.jsonl`` per usable segment, the info file, the card."""
    out = Path(out)
    (out / DATA_DIR).mkdir(parents=True, exist_ok=True)
    for stale in (out / DATA_DIR).glob("*.jsonl"):
        stale.unlink()  # a segment skipped this time must not keep last time's file
    for name, seg in sorted(prefs.usable.items()):
        lines = [json.dumps({k: r[k] for k in RECORD_FIELDS}, ensure_ascii=False) for r in seg.records]
        (out / DATA_DIR / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = prefs.info()
    (out / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    render_card(info).save(out / "README.md")
    return out


def render_card(info: Mapping[str, Any], repo_id: str | None = None) -> Any:
    """The dataset card (``hub_cards/preferences_card.md``), one config per segment."""
    from huggingface_hub import DatasetCard, DatasetCardData

    from genemail.resources import card_template

    total = sum(seg["pairs"] for seg in info["segments"].values() if seg["skipped"] is None)
    configs = [{"config_name": name, "data_files": [{"split": "train", "path": path}]}
               for name, path in sorted(info["files"].items())]
    data = DatasetCardData(
        language=[info["config"]["lang"]], license="cc0-1.0", pretty_name="GenEmail preference pairs",
        task_categories=["text-generation"], tags=["genemail", "dpo", "preference", "synthetic", "trl"],
        size_categories=["n<1K" if total < 1000 else "1K<n<10K"], configs=configs or None,
    )
    return DatasetCard.from_template(data, template_path=str(card_template("preferences_card.md")),
                                     info=info, total=total, repo_id=repo_id)


def read_preferences(folder: Path) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The info file and each usable segment's records of a dataset folder (written by :func:`write_preferences`)."""
    folder = Path(folder)
    info_path = folder / INFO_FILE
    if not info_path.is_file():
        raise DataError(f"no {INFO_FILE}: not a preference dataset", where=str(folder),
                        fix="build it with `genemail results preferences` (or pass its Hub repo@revision)")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    records: dict[str, list[dict[str, Any]]] = {}
    for name, rel in sorted((info.get("files") or {}).items()):
        path = folder / rel
        if not path.is_file():
            raise DataError(f"segment {name!r} lists {rel}, which is missing", where=str(folder),
                            fix="rebuild the dataset folder")
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"invalid JSON ({err.msg})", where=f"{path}, line {number}",
                                fix="rebuild the dataset folder") from None
            missing = [k for k in PAIR_FIELDS if not isinstance(row.get(k), str) or not row[k]]
            if missing:
                raise DataError(f"record lacks {', '.join(missing)}", where=f"{path}, line {number}",
                                fix="each record needs prompt, chosen and rejected text")
            rows.append(row)
        records[name] = rows
    return info, records


def folder_digest(folder: Path, names: Sequence[str] | None = None) -> str:
    """sha256 over the dataset's data files and info (a content id for a folder not on a Hub)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    paths = sorted([folder / INFO_FILE, *(folder / DATA_DIR).glob("*.jsonl")]) if names is None \
        else [folder / n for n in names]
    for path in paths:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def format_summary(prefs: PreferenceSet) -> str:
    """One line per segment: pairs and where the rest went."""
    lines = [f"Preference pairs from experiment {prefs.experiment} (chosen = clicked, rejected = received and not "
             f"clicked, same segment and adapter; {prefs.config.rejected_per_chosen} rejected per chosen at most):"]
    for name, seg in sorted(prefs.segments.items()):
        state = f"skipped: {seg.skipped}" if seg.skipped else "used"
        lines.append(f"  {name:<18} {seg.pairs:>5} pairs from {seg.clicked} clickers and {seg.not_clicked} "
                     f"non-clickers of {seg.sent} sent ({seg.chosen_unusable} clickers and {seg.rejected_unusable} "
                     f"non-clickers misstate facts) -> {state}")
    return "\n".join(lines)
