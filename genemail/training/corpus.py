"""The synthetic email corpus (the PRD's ``generate_pseudo_email``, generalized).

Each reference email is greeting + body + call to action, three parts picked from the segment's
variants in the strategies file and filled with the customer's own facts in fixed, checkable forms.
Variant choice is seeded per customer, and a segment never repeats a text within a split: when a
draw collides with an email already written in that segment and split, the next combination in the
customer's seeded order is taken. So no two customers of a segment in one split get the same email,
by construction.

Beside each styled email a record carries ``generic_output``: the same customer's email in the
**single strategy** (the ``baseline`` record's variants: one generic style and offer for everyone).
The embedded base model learns those, plus the neutral sentences of ``neutral.jsonl``
(:mod:`genemail.training.neutral`), and never the styled emails: the segment adapters carry the
styles, as they must on a real base model.

The corpus is a ``datasets.DatasetDict`` split train / validation / test *by customer* (stratified
by segment, seeded), saved as one JSONL file per split plus ``corpus_info.json``. Every record
keeps the customer's profile, so evaluation can rebuild test customers without the segmenter. Rows
of the input table may come with a ``split`` already chosen (synthesized customers that fill small
segments and the evaluation set, :mod:`genemail.training.topup`); the others are split here.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import ArtifactError, DataError, config_error
from genemail.generation.prompts import CustomerProfile, build_baseline_prompt, build_prompt, fact_phrases, profile_from_row
from genemail.generation.slots import FactWording, render
from genemail.generation.templates import email_variants, variant_combinations, write_template
from genemail.generation.strategies import Strategy, StrategyBook, default_wording
from genemail.resources import card_template
from genemail.taxonomy import COLD_START, L2_SEGMENTS, LANGS

if TYPE_CHECKING:  # heavy imports stay out of module import time
    import datasets
    import pandas as pd
    from huggingface_hub import DatasetCard

SPLITS: tuple[str, ...] = ("train", "validation", "test")
INFO_FILE = "corpus_info.json"
NEUTRAL_FILE = "neutral.jsonl"  # neutral sentences for the base model (one {"text", "lang"} per line)
SOURCES: tuple[str, ...] = ("customers", "synthetic")  # where a record's customer came from
CARD_TEMPLATE = card_template("corpus_card.md")


@dataclass(frozen=True)
class CorpusConfig:
    """How to build the corpus; validated on construction."""

    lang: str = "zh"
    seed: int = 0
    emails_per_customer: int = 1
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    # Customers per segment each split must reach; synthesized customers fill the gap (see topup).
    min_train: int = 0
    min_validation: int = 0
    min_test: int = 0
    # Neutral text for the base model (neutral.jsonl; see genemail.training.neutral); 0 writes none.
    neutral_sentences: int = 1000  # grammar sentences
    phrase_mixes: int = 1500  # phrases of 2-3 different segments strung together, no prompt

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise config_error("lang", self.lang, f"one of {list(LANGS)}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise config_error("seed", self.seed, "a non-negative integer")
        if not isinstance(self.emails_per_customer, int) or not 1 <= self.emails_per_customer <= 64:
            raise config_error("emails_per_customer", self.emails_per_customer, "an integer from 1 to 64")
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise config_error(name, value, "a fraction between 0 and 0.5 (exclusive)")
        for name in ("min_train", "min_validation", "min_test", "neutral_sentences", "phrase_mixes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100_000:
                raise config_error(name, value, "an integer from 0 to 100000")

    @property
    def minimums(self) -> dict[str, int]:
        """Customers per segment each split must reach (0: no minimum)."""
        return {"train": self.min_train, "validation": self.min_validation, "test": self.min_test}


def _features() -> "datasets.Features":
    """Explicit column types, so splits with all-missing profile fields still load alike."""
    from datasets import Features, Value

    profile = {
        "customer_id": Value("string"), "age": Value("int64"), "children": Value("int64"),
        "kid_age": Value("string"), "marital_status": Value("string"), "family_size": Value("int64"),
        "income": Value("float64"), "recency": Value("int64"), "favourite_category": Value("string"),
        "tenure_days": Value("int64"),
    }
    text = ("input", "baseline_input", "output", "rendered", "generic_output", "generic_rendered", "segment",
            "customer_id", "lang", "variant", "source")
    return Features({**{name: Value("string") for name in text}, "profile": profile})


def _to_dataset(rows: list[dict[str, Any]]) -> "datasets.Dataset":
    """Rows -> Dataset with the corpus features (an empty split, e.g. a tiny corpus's test, too)."""
    from datasets import Dataset

    features = _features()
    if not rows:
        return Dataset.from_dict({name: [] for name in features}, features=features)
    # Corpora written before the single strategy and the top-up lack these two fields.
    rows = [{"generic_output": "", "source": SOURCES[0], "rendered": row.get("output", ""),
             "generic_rendered": row.get("generic_output", ""), **row} for row in rows]
    return Dataset.from_list(rows, features=features)


def write_email(profile: CustomerProfile, strategy: Strategy, lang: str, choice: tuple[int, int, int],
                wording: FactWording | None = None) -> str:
    """The reference email for one variant choice, its facts filled from ``profile`` (what a customer reads)."""
    rendered = render(write_template(strategy, lang, choice), profile, lang, wording or default_wording(lang))
    assert rendered.ok, rendered  # variant_combinations only offers bodies the profile can fill
    return rendered.text


def customer_rng_seed(seed: int, customer_id: str) -> list[int]:
    """A stable per-customer seed (Python's ``hash`` is salted per process, crc32 is not)."""
    return [seed, zlib.crc32(customer_id.encode("utf-8"))]


def draw_emails(
    profile: CustomerProfile, strategy: Strategy, lang: str, k: int, seed: int, used: set[str],
    wording: FactWording | None = None,
) -> list[tuple[str, tuple[int, int, int]]]:
    """``k`` rendered emails for one customer, none already in ``used`` (which is updated).

    Distinct as the customers read them (facts filled); :func:`write_template` gives each one's slot form.
    """
    import numpy as np

    wording = wording or default_wording(lang)
    combos = variant_combinations(email_variants(strategy, lang), fact_phrases(profile, lang, wording))
    order = np.random.default_rng(customer_rng_seed(seed, profile.customer_id)).permutation(len(combos))
    emails: list[tuple[str, tuple[int, int, int]]] = []
    for index in order:
        text = write_email(profile, strategy, lang, combos[index], wording)
        if text not in used:
            used.add(text)
            emails.append((text, combos[index]))
            if len(emails) == k:
                return emails
    raise DataError(
        f"only {len(emails)} distinct emails left for this customer, {k} requested",
        where=f"customer {profile.customer_id!r} (segment {strategy.segment})",
        fix="lower --emails-per-customer or add variants to the strategies file",
    )


def build_records(
    frame: "pd.DataFrame", book: StrategyBook, config: CorpusConfig, segment_column: str = "segment",
    split_of: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """One record per (customer, email); returns the records and the skipped-row counts by reason.

    Emails are unique within a segment *and split* (``split_of``: customer_id -> split); without
    ``split_of``, within a segment. Per split, so a large segment of alike customers (hundreds of
    high-income wine lovers) does not run out of distinct texts.
    """
    if segment_column not in frame.columns:
        raise DataError(f"no {segment_column!r} column", where="customers table", fix="segment the customers first")
    split_of = split_of or {}
    used: dict[tuple[str, str], set[str]] = {}
    records: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for row_number, row in enumerate(frame.to_dict(orient="records"), start=1):
        segment = row[segment_column]
        if segment == COLD_START:  # cold-start customers use the baseline: no segment emails
            skipped[COLD_START] += 1
            continue
        if not isinstance(segment, str):  # NaN / <NA>: the segmenter left the row unsegmented
            skipped["unsegmented"] += 1
            continue
        if segment not in L2_SEGMENTS:
            raise DataError(
                f"unknown segment {segment!r}", where=f"row {row_number}, column {segment_column}",
                fix=f"use one of {list(L2_SEGMENTS)} or {COLD_START}",
            )
        profile = profile_from_row(row)
        strategy = book.for_segment(segment)
        prompt = build_prompt(profile, strategy, config.lang)
        baseline = build_baseline_prompt(profile, config.lang)
        pool = used.setdefault((segment, split_of.get(profile.customer_id, "")), set())
        wording = book.wording(config.lang)
        drawn = draw_emails(profile, strategy, config.lang, config.emails_per_customer, config.seed, pool, wording)
        generic = generic_emails(profile, book, config)
        source = row.get("source") if row.get("source") in SOURCES else SOURCES[0]
        for (email, (g, b, c)), (generic_email, generic_template) in zip(drawn, generic):
            records.append({
                "input": prompt, "baseline_input": baseline, "output": write_template(strategy, config.lang, (g, b, c)),
                "rendered": email, "generic_output": generic_template, "generic_rendered": generic_email,
                "segment": segment, "customer_id": profile.customer_id, "lang": config.lang,
                "variant": f"g{g}-b{b}-c{c}", "source": source, "profile": profile.to_record(),
            })
    return records, skipped


def has_single_strategy(book: StrategyBook, lang: str) -> bool:
    """Does the strategies file define single-strategy emails (variants on the ``baseline`` record)?"""
    return book.baseline.text(lang).variants is not None


def generic_emails(profile: CustomerProfile, book: StrategyBook, config: CorpusConfig) -> list[tuple[str, str]]:
    """The customer's single-strategy emails (rendered, slot form), one per styled email ("" when none).

    Distinct for one customer, not across customers: one style for everyone is the point.
    """
    if not has_single_strategy(book, config.lang):
        return [("", "")] * config.emails_per_customer
    drawn = draw_emails(profile, book.baseline, config.lang, config.emails_per_customer, config.seed + 1, set(),
                        book.wording(config.lang))
    return [(email, write_template(book.baseline, config.lang, choice)) for email, choice in drawn]


def split_customers(customer_segments: dict[str, str], config: CorpusConfig) -> dict[str, str]:
    """customer_id -> split, stratified by segment and seeded (each segment reaches every split if it can)."""
    import numpy as np

    rng = np.random.default_rng(config.seed)
    assignment: dict[str, str] = {}
    for segment in sorted(set(customer_segments.values())):
        ids = sorted(c for c, s in customer_segments.items() if s == segment)
        ids = [ids[i] for i in rng.permutation(len(ids))]
        # At least one validation and one test customer per segment once a segment has 3, so the
        # style judge (trained on validation) and the test metrics see every segment.
        n_val = max(1, round(len(ids) * config.validation_fraction)) if len(ids) >= 3 else 0
        n_test = max(1, round(len(ids) * config.test_fraction)) if len(ids) >= 3 else 0
        for index, customer in enumerate(ids):
            assignment[customer] = "validation" if index < n_val else "test" if index < n_val + n_test else "train"
    return assignment


def assign_splits(frame: "pd.DataFrame", config: CorpusConfig, segment_column: str = "segment") -> dict[str, str]:
    """customer_id -> split of every L2 customer: its own ``split`` when the table has one, else
    :func:`split_customers` (stratified by segment, seeded)."""
    if segment_column not in frame.columns:
        return {}
    given: dict[str, str] = {}
    if "split" in frame.columns:
        for customer, split in zip(frame["customer_id"].astype(str), frame["split"]):
            if isinstance(split, str):
                if split not in SPLITS:
                    raise DataError(f"unknown split {split!r}", where=f"customer {customer!r}, column split",
                                    fix=f"use one of {list(SPLITS)} or leave it empty")
                given[customer] = split
    rest = {str(c): seg for c, seg in zip(frame["customer_id"], frame[segment_column])
            if seg in L2_SEGMENTS and str(c) not in given}
    return {**split_customers(rest, config), **given}


def build_corpus(
    frame: "pd.DataFrame", book: StrategyBook, config: CorpusConfig | None = None, segment_column: str = "segment"
) -> tuple["datasets.DatasetDict", dict[str, Any]]:
    """Write every segmented customer's reference emails and split them by customer.

    ``frame`` is the internal customer schema plus a ``segment_column`` of L2 names (or Cold_Start,
    which is skipped and counted). Returns the DatasetDict and the ``corpus_info`` dict.
    """
    from datasets import DatasetDict

    config = config or CorpusConfig()
    split_of = assign_splits(frame, config, segment_column)
    records, skipped = build_records(frame, book, config, segment_column, split_of)
    if not records:
        raise DataError("no customer with an L2 segment", where="customers table", fix="segment the customers first")
    corpus = DatasetDict({
        split: _to_dataset([r for r in records if split_of[r["customer_id"]] == split]) for split in SPLITS
    })
    return corpus, corpus_info(corpus, book, config, skipped)


def corpus_info(
    corpus: "datasets.DatasetDict", book: StrategyBook, config: CorpusConfig, skipped: Counter[str]
) -> dict[str, Any]:
    """Counts per split and segment plus everything needed to rebuild the corpus."""
    from genemail import __version__

    splits = {
        split: {
            "records": corpus[split].num_rows,
            "customers": len(set(corpus[split]["customer_id"])),
            "segments": dict(sorted(Counter(corpus[split]["segment"]).items())),
            "synthetic_customers": dict(sorted(Counter(
                r["segment"] for r in _first_records(corpus[split]) if r["source"] == "synthetic").items())),
        }
        for split in SPLITS
    }
    return {
        "lang": config.lang, "seed": config.seed, "emails_per_customer": config.emails_per_customer,
        "validation_fraction": config.validation_fraction, "test_fraction": config.test_fraction,
        "strategies_version": book.version, "splits": splits, "skipped": dict(skipped),
        "segments": list(L2_SEGMENTS), "genemail_version": __version__,
        "single_strategy": has_single_strategy(book, config.lang), "minimums": config.minimums,
        "neutral_sentences": config.neutral_sentences, "phrase_mixes": config.phrase_mixes,
    }


def _first_records(split: "datasets.Dataset") -> list[dict[str, Any]]:
    """One record per customer (the first), for per-customer counts."""
    seen: dict[str, dict[str, Any]] = {}
    for customer, segment, source in zip(split["customer_id"], split["segment"], split["source"]):
        seen.setdefault(customer, {"segment": segment, "source": source})
    return list(seen.values())


def save_corpus(corpus: "datasets.DatasetDict", info: dict[str, Any], out_dir: Path | str,
                neutral: Sequence[str] = ()) -> Path:
    """Write ``<split>.jsonl`` for each split, ``corpus_info.json`` and (if any) ``neutral.jsonl``
    (the base model's neutral text: see :func:`neutral_text`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for record in corpus[split]:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    if neutral:
        with (out / NEUTRAL_FILE).open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"text": t, "lang": info["lang"]}, ensure_ascii=False) + "\n" for t in neutral)
    (out / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def load_neutral(corpus_dir: Path | str) -> list[str]:
    """The neutral sentences of a saved corpus (an empty list when it has none)."""
    path = Path(corpus_dir) / NEUTRAL_FILE
    return [record["text"] for record in _read_jsonl(path)] if path.is_file() else []


def load_corpus(corpus_dir: Path | str) -> "datasets.DatasetDict":
    """Read a saved corpus back as a DatasetDict with the explicit corpus features."""
    from datasets import DatasetDict

    folder = Path(corpus_dir)
    splits = {}
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        if not path.is_file():
            raise ArtifactError(
                f"corpus split {split!r} is missing", where=str(path),
                fix="build the corpus with `python -m training.build_corpus` (or `make train`)",
            )
        splits[split] = _to_dataset(list(_read_jsonl(path)))
    return DatasetDict(splits)


def _read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ArtifactError(f"invalid JSON ({exc.msg})", where=f"{path}, line {line_number}",
                                    fix="rebuild the corpus") from None


def load_corpus_info(corpus_dir: Path | str) -> dict[str, Any]:
    """The ``corpus_info.json`` of a saved corpus."""
    path = Path(corpus_dir) / INFO_FILE
    if not path.is_file():
        raise ArtifactError("corpus_info.json is missing", where=str(path), fix="rebuild the corpus")
    return json.loads(path.read_text(encoding="utf-8"))


def held_out_customers(corpus: "datasets.DatasetDict") -> list[tuple[CustomerProfile, str, str]]:
    """(profile, segment, first reference email as sent, facts filled) of each test-split customer, in file order."""
    seen: dict[str, tuple[CustomerProfile, str, str]] = {}
    for record in corpus["test"]:
        if record["customer_id"] not in seen:
            seen[record["customer_id"]] = (CustomerProfile(**record["profile"]), record["segment"], record["rendered"])
    return list(seen.values())


def generic_references(corpus: "datasets.DatasetDict") -> dict[str, str]:
    """customer_id -> first single-strategy reference email of each test-split customer."""
    out: dict[str, str] = {}
    for customer, generic in zip(corpus["test"]["customer_id"], corpus["test"]["generic_rendered"]):
        out.setdefault(customer, generic)
    return out


def segment_customers(customers: Path, segmenter: Path) -> "pd.DataFrame":
    """Load customers (internal schema) and add the segmenter's L2 name as a ``segment`` column."""
    from genemail.data import load_customers
    from genemail.segmentation import load_segmenter

    loaded = load_customers(customers)
    frame = loaded.frame
    if not Path(segmenter).exists():
        raise ArtifactError("segmenter not found", where=str(segmenter),
                            fix="train it first (make train) or pass --segmenter DIR")
    segments = load_segmenter(segmenter).segment(frame)  # accepts the folder or the .skops file
    mapping = dict(zip(segments["customer_id"].astype(str), segments["l2"]))
    frame = frame.copy()
    frame["segment"] = frame["customer_id"].astype(str).map(mapping)
    # Synthesized top-up customers are cleaned against the same date, so their ages, recencies and
    # tenures read like the table's own.
    frame.attrs["reference_date"] = loaded.report.reference_date
    return frame


def write_corpus_folder(frame: "pd.DataFrame", out: Path, config: CorpusConfig,
                        strategies: Path | None = None, segmenter: Path | None = None) -> dict[str, Any]:
    """Build the corpus of ``frame`` (with a ``segment`` column) and write its folder; returns corpus_info.

    With a ``segmenter`` and minimums in ``config``, synthesized customers fill the small segments'
    splits first (:mod:`genemail.training.topup`). The folder holds the splits, ``neutral.jsonl``,
    ``corpus_info.json``, the dataset card and a copy of the strategies file used, so the corpus is
    reproducible from its folder alone.
    """
    import shutil

    import pandas as pd

    from genemail.generation.strategies import load_strategies

    book = load_strategies(strategies)
    top_up_report = None
    if segmenter is not None and any(config.minimums.values()):
        from genemail.training.topup import top_up
        from genemail.segmentation import load_segmenter

        extra, top_up_report = top_up(frame, load_segmenter(segmenter), config)
        frame = pd.concat([frame.assign(source=SOURCES[0]), extra], ignore_index=True)
    corpus, info = build_corpus(frame, book, config)
    if top_up_report is not None:
        info["top_up"] = top_up_report.to_dict()
    save_corpus(corpus, info, out, neutral_text(book, config))
    info = load_corpus_info(out)
    shutil.copyfile(book.source, Path(out) / "strategies.yaml")
    render_corpus_card(info).save(Path(out) / "README.md")
    return info


def neutral_text(book: StrategyBook, config: CorpusConfig) -> list[str]:
    """The base model's neutral text: grammar sentences, then phrase mixes (seeded)."""
    from genemail.training.neutral import neutral_sentences, phrase_mixes

    return (neutral_sentences(config.neutral_sentences, config.lang, config.seed)
            + phrase_mixes(book, config.phrase_mixes, config.lang, config.seed))


def render_corpus_card(info: dict[str, Any], template_path: Path | None = None, repo_id: str | None = None) -> "DatasetCard":
    """The corpus dataset card, rendered from ``hub_cards/corpus_card.md``."""
    from huggingface_hub import DatasetCard, DatasetCardData

    template = Path(template_path or CARD_TEMPLATE)
    if not template.is_file():
        raise ArtifactError("card template missing", where=str(template), fix="reinstall genemail (the card templates are package data)")
    total = sum(split["records"] for split in info["splits"].values())
    data = DatasetCardData(
        language=[info["lang"]], license="cc0-1.0", pretty_name="GenEmail synthetic email corpus",
        task_categories=["text-generation"], tags=["genemail", "synthetic", "marketing-email"],
        size_categories=[_size_category(total)],
    )
    return DatasetCard.from_template(data, template_path=str(template), info=info, repo_id=repo_id, total=total)


def _size_category(n: int) -> str:
    bounds: Sequence[tuple[int, str]] = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"))
    return next((label for bound, label in bounds if n < bound), "100K<n<1M")
