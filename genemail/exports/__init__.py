"""Exports to the Hub: the stages' stores written to Hub dataset repos, wired at the edge.

The stages keep their data in SQLite (ratings, hand labels, experiment results) and know nothing of the
Hub; the Hub client knows nothing of the stages. These modules join the two: ``ratings`` and ``labels``
append new rows to a dataset repo every few minutes (:mod:`genemail.hub.jsonl_export`), ``results``
pushes an experiment's per-customer outcomes and report as one commit.
"""
