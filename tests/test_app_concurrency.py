"""16 simultaneous raters submit 1,000 ratings through gradio_client: all stored once, statistics exact."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

N_RATERS = 16
N_RATINGS = 1000
N_CUSTOMERS = 6  # pairs of one customer are cached, so raters share texts (agreement needs that)
RETRY_EVERY = 10  # every 10th submit is sent twice, as a double click would


@pytest.fixture(scope="module")
def fresh_app(app_release, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """The app on the test release with an empty ratings database of its own."""
    from app import build_demo, launch_kwargs
    from genemail.service import GenEmailService, ServiceConfig
    from tests.fixtures.app import TAGS
    from tests.fixtures.net import free_port

    folder = tmp_path_factory.mktemp("concurrency")
    service = GenEmailService(ServiceConfig(
        release_repo=app_release.repo_id, revision=TAGS[0], hf_endpoint=app_release.endpoint,
        n_demo_customers=40, ratings_db=folder / "ratings.sqlite", labels_db=folder / "labels.sqlite",
        results_db=folder / "results.sqlite", work_dir=folder / "work")).start()
    assert service.ready, service.load_error
    demo = build_demo(service)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                **launch_kwargs(service))
    try:
        yield demo.local_url, service
    finally:
        demo.close()


def _plan(rater: int) -> list[tuple[str, int, int]]:
    """This rater's answers: (choice, score_a, score_b), deterministic and varied."""
    share = N_RATINGS // N_RATERS + (rater < N_RATINGS % N_RATERS)
    choices = ("A", "B", "tie", "both_poor")
    return [(choices[(rater + i) % 4], 1 + (rater * 3 + i) % 5, 1 + (rater + 2 * i) % 5) for i in range(share)]


def _rate_all(url: str, rater: int, customers: list[str], start: threading.Barrier) -> list[str]:
    from tests.fixtures.app import app_client

    client = app_client(url)  # one client = one session = one rater's gr.State
    statuses = []
    start.wait()  # every rater begins at the same moment
    for i, (choice, a, b) in enumerate(_plan(rater)):
        client.predict(customers[(rater + i) % len(customers)], api_name="/next_pair")
        status = client.predict(f"rater-{rater:02d}", choice, a, b, "", api_name="/rate")
        if i % RETRY_EVERY == 0:
            assert client.predict(f"rater-{rater:02d}", choice, a, b, "", api_name="/rate") == status
        statuses.append(status)
    return statuses


def test_sixteen_raters_store_every_rating_exactly_once(fresh_app) -> None:
    url, service = fresh_app
    customers = service.customer_ids(N_CUSTOMERS)
    for cid in customers:  # generate each customer's pair once, before the clock starts
        service.next_pair(cid)
    start = threading.Barrier(N_RATERS)
    with ThreadPoolExecutor(N_RATERS) as pool:
        results = list(pool.map(lambda r: _rate_all(url, r, customers, start), range(N_RATERS)))

    statuses = [s for per_rater in results for s in per_rater]
    ids = {int(s.split("#")[1].split()[0]) for s in statuses}
    assert len(statuses) == len(ids) == N_RATINGS  # every acknowledged rating has its own row id

    db = Path(service.config.ratings_db)
    with sqlite3.connect(db) as conn:
        total, unique_subs = conn.execute("SELECT COUNT(*), COUNT(DISTINCT submission_id) FROM ratings").fetchone()
        per_rater = dict(conn.execute("SELECT rater, COUNT(*) FROM ratings GROUP BY rater"))
        by_seg = {(seg, var): (n, m) for seg, var, n, m in conn.execute(
            "SELECT segment, 'segmented', COUNT(*), SUM(score_segmented >= 4) FROM ratings GROUP BY segment "
            "UNION ALL SELECT segment, 'baseline', COUNT(*), SUM(score_baseline >= 4) FROM ratings GROUP BY segment")}
        wins = conn.execute(
            "SELECT SUM((choice='A' AND left_variant='segmented') OR (choice='B' AND right_variant='segmented')),"
            " SUM((choice='A' AND left_variant='baseline') OR (choice='B' AND right_variant='baseline'))"
            " FROM ratings").fetchone()
    assert total == unique_subs == N_RATINGS
    assert per_rater == {f"rater-{r:02d}": len(_plan(r)) for r in range(N_RATERS)}

    from tests.fixtures.app import app_client

    stats_md, table = app_client(url).predict(api_name="/stats")
    assert f"**{N_RATINGS}** ratings by **{N_RATERS}** raters" in stats_md
    rows = {(r[0], r[1], r[2]): r for r in table["value"]["data"]}  # segment, measure, email -> row
    emails = {"segmented": "segmented email", "baseline": "baseline email"}
    for (segment, variant), (n, matches) in by_seg.items():
        row = rows[(service.segment_name(segment, "en"), "fits the style (score 4 or 5)", emails[variant])]
        assert row[3] == n and float(row[4]) == pytest.approx(100 * matches / n, abs=0.5)  # shown in whole percent
    pooled = rows[("All segments", "segmented email preferred", "segmented email")]
    assert pooled[3] == wins[0] + wins[1]
    assert float(pooled[4]) == pytest.approx(100 * wins[0] / (wins[0] + wins[1]), abs=0.5)
