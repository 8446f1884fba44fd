"""KR1 on hand labels: the segmenter and the plain rules against what marketers said, and the marketers
against each other.

The usual KR1 figure compares the segmenter with labels computed by the same business rules it learns;
these hand labels are independent of both. Per customer the hand label is the majority of its labelers'
answers (``unsure`` answers do not vote; a tie is *disputed* and left out, and counted). Reported:

* ``model`` and ``rules``: L2 (and L1) accuracy on the labelled customers with 95% Wilson intervals,
  on the held-out test customers (the headline) and on every labelled customer (the model was trained
  on the others' rule labels, which the report says);
* ``model_vs_rules``: McNemar's exact test on the same customers (paired: is either closer to the labels?);
* ``agreement``: Cohen's kappa between the two labelers with the most customers in common, and
  Krippendorff's alpha (nominal) over every labeler, on the raw answers.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail import taxonomy
from genemail.errors import DataError
from genemail.labels.store import L1_CHOICES, L2_CHOICES, UNSURE

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("customer_id", "l2")
_FIX = "export the labels with `genemail labels export --out labels.csv` (columns customer_id, rater, l1, l2)"


def read_labels(path: Path) -> pd.DataFrame:
    """Read a labels file (CSV, JSONL or Parquet); refuse unknown segments naming the line."""
    import pandas as pd

    from genemail.experiments.tables import iter_chunks, table_format

    path = Path(path)
    fmt = table_format(path)
    rows: list[dict[str, Any]] = []
    for chunk in iter_chunks(path, fmt):
        if chunk.errors:
            position, message = chunk.errors[0]
            raise DataError(message, where=f"{path}: {fmt.unit} {position}", fix=_FIX)
        for position, record in zip(chunk.positions, chunk.records):
            rows.append(_label_row(record, f"{path}: {fmt.unit} {position}"))
    if not rows:
        raise DataError("the labels file has no rows", where=str(path), fix=_FIX)
    return pd.DataFrame(rows)


def _label_row(record: dict[str, Any], where: str) -> dict[str, str]:
    missing = [c for c in REQUIRED if not str(record.get(c) or "").strip()]
    if missing:
        raise DataError(f"missing {', '.join(missing)}", where=where, fix=_FIX)
    row = {"customer_id": str(record["customer_id"]).strip(), "rater": str(record.get("rater") or "labeler").strip(),
           "l1": str(record.get("l1") or UNSURE).strip(), "l2": str(record["l2"]).strip()}
    for column, allowed in (("l1", L1_CHOICES), ("l2", L2_CHOICES)):
        if row[column] not in allowed:
            raise DataError(f"{column}={row[column][:40]!r} is not a label", where=where,
                            fix=f"use one of {', '.join(allowed)}")
    return row


def consensus(labels: pd.DataFrame, column: str) -> tuple[dict[str, str], int]:
    """Majority answer per customer (``unsure`` does not vote); the number of disputed (tied) customers."""
    votes: dict[str, Counter] = {}
    for customer, answer in zip(labels["customer_id"], labels[column]):
        if answer != UNSURE:
            votes.setdefault(str(customer), Counter())[answer] += 1
    out, disputed = {}, 0
    for customer, counter in votes.items():
        (top, n), *rest = counter.most_common()
        if rest and rest[0][1] == n:
            disputed += 1
        else:
            out[customer] = top
    return out, disputed


def evaluate_labels(labels: pd.DataFrame, customers: pd.DataFrame, model: Any,
                    test_ids: set[str] | None = None) -> dict[str, Any]:
    """Model and rules against the hand labels, and labeler agreement (see the module docstring)."""
    frame = customers.assign(customer_id=customers["customer_id"].astype(str)).drop_duplicates("customer_id")
    l2_truth, disputed = consensus(labels, "l2")
    l1_truth, _ = consensus(labels, "l1")
    known = set(frame["customer_id"])
    unknown = sorted(set(labels["customer_id"].astype(str)) - known)
    labelled = frame[frame["customer_id"].isin(l2_truth)]
    if labelled.empty:
        raise DataError("none of the labelled customers is in the customer table", where="--labels",
                        fix="label customers of the same file the segmenter is trained on (see the Label tab)")
    predicted = model.segment(labelled.reset_index(drop=True))
    rules = model.rule_labels(labelled.reset_index(drop=True))
    table = labelled[["customer_id"]].reset_index(drop=True).assign(
        truth_l2=lambda d: d["customer_id"].map(l2_truth), truth_l1=lambda d: d["customer_id"].map(l1_truth),
        model_l2=predicted["l2"].astype(str).to_numpy(), model_l1=predicted["l1"].astype(str).to_numpy(),
        rules_l2=rules["l2"].astype(object).fillna(taxonomy.COLD_START).astype(str).to_numpy(),
        rules_l1=rules["l1"].astype(object).fillna(taxonomy.COLD_START).astype(str).to_numpy())
    report: dict[str, Any] = {
        "n_labels": int(len(labels)), "n_raters": int(labels["rater"].nunique()),
        "n_customers": int(len(table)), "disputed": disputed,
        "unsure": int((labels["l2"] == UNSURE).sum()), "not_in_table": len(unknown),
        "not_in_table_examples": unknown[:5],
        "all": _scores(table),
        "agreement": agreement(labels),
    }
    if test_ids is not None:
        held_out = table[table["customer_id"].isin({str(c) for c in test_ids})]
        report["held_out"] = _scores(held_out) if len(held_out) else None
    return report


def _scores(table: pd.DataFrame) -> dict[str, Any]:
    from statsmodels.stats.contingency_tables import mcnemar

    out: dict[str, Any] = {"n": int(len(table))}
    for who in ("model", "rules"):
        out[who] = {level: _rate(table[f"{who}_{level}"] == table[f"truth_{level}"], table[f"truth_{level}"])
                    for level in ("l2", "l1")}
    model_ok, rules_ok = table["model_l2"] == table["truth_l2"], table["rules_l2"] == table["truth_l2"]
    b, c = int((model_ok & ~rules_ok).sum()), int((~model_ok & rules_ok).sum())
    p = float(mcnemar([[0, b], [c, 0]], exact=True).pvalue) if b + c else 1.0
    out["model_vs_rules"] = {"model_only_right": b, "rules_only_right": c, "mcnemar_p": p}
    return out


def _rate(correct: pd.Series, truth: pd.Series) -> dict[str, Any]:
    from statsmodels.stats.proportion import proportion_confint

    mask = truth.notna()
    n, k = int(mask.sum()), int(correct[mask].sum())
    if not n:
        return {"n": 0, "accuracy": None, "ci": None}
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    return {"n": n, "accuracy": k / n, "ci": [float(low), float(high)]}


def agreement(labels: pd.DataFrame) -> dict[str, Any]:
    """Cohen's kappa (the two labelers sharing the most customers) and Krippendorff's alpha (all), on L2."""
    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    answers = labels[labels["l2"] != UNSURE].drop_duplicates(["rater", "customer_id"], keep="last")
    wide = answers.pivot(index="rater", columns="customer_id", values="l2")
    out: dict[str, Any] = {"cohen_kappa": None, "kappa_raters": None, "kappa_n": 0,
                           "krippendorff_alpha": None, "alpha_n": 0}
    shared = int((wide.notna().sum(axis=0) >= 2).sum()) if len(wide) >= 2 else 0
    if shared:
        codes = {name: i for i, name in enumerate(L2_CHOICES)}
        matrix = wide.apply(lambda col: col.map(codes)).to_numpy(dtype=float)
        if len(np.unique(matrix[~np.isnan(matrix)])) > 1:
            out["krippendorff_alpha"] = float(krippendorff.alpha(reliability_data=matrix,
                                                                 level_of_measurement="nominal"))
        out["alpha_n"] = shared
        raters = list(wide.index)
        pairs = [(a, b, int((wide.loc[a].notna() & wide.loc[b].notna()).sum()))
                 for i, a in enumerate(raters) for b in raters[i + 1:]]
        a, b, n = max(pairs, key=lambda t: t[2])
        if n >= 2:
            both = wide.loc[a].notna() & wide.loc[b].notna()
            out.update(cohen_kappa=float(cohen_kappa_score(wide.loc[a][both], wide.loc[b][both])),
                       kappa_raters=[str(a), str(b)], kappa_n=n)
    return out


def format_labels_report(report: dict[str, Any]) -> str:
    """A few lines for the training script's output."""
    def line(name: str, s: dict[str, Any] | None) -> list[str]:
        if not s or not s["n"]:
            return [f"  {name}: no labelled customers"]
        out = [f"  {name} (n={s['n']}):"]
        for who in ("model", "rules"):
            r = s[who]["l2"]
            ci = f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]" if r["ci"] else ""
            out.append(f"    {who:<6} L2 accuracy vs hand labels {r['accuracy']:.3f} {ci}")
        m = s["model_vs_rules"]
        out.append(f"    model right where rules wrong {m['model_only_right']}, the reverse {m['rules_only_right']}, "
                   f"McNemar p {m['mcnemar_p']:.3g}")
        return out

    a = report["agreement"]
    kappa = f"{a['cohen_kappa']:.3f} ({' vs '.join(a['kappa_raters'])}, n={a['kappa_n']})" if a["cohen_kappa"] is not None \
        else "n/a (no two labelers share 2 customers)"
    alpha = f"{a['krippendorff_alpha']:.3f} (n={a['alpha_n']})" if a["krippendorff_alpha"] is not None else "n/a"
    lines = [f"hand labels: {report['n_labels']} labels by {report['n_raters']} labeler(s) on {report['n_customers']} "
             f"customers ({report['disputed']} disputed, {report['unsure']} unsure, {report['not_in_table']} not in "
             "the customer table)"]
    lines += line("held-out test customers", report.get("held_out"))
    lines += line("all labelled customers (the model was fitted on the rule labels of the training ones)",
                  report["all"])
    lines.append(f"  agreement on L2: Cohen's kappa {kappa}; Krippendorff's alpha {alpha}")
    return "\n".join(lines)
