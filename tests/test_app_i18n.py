"""The page in English and Chinese: every text translated with its placeholders, switchable per session."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from genemail.app_ui.i18n import t
from genemail.app_ui.zh import ZH

APP_UI = Path(__file__).resolve().parents[1] / "genemail" / "app_ui"
UNTRANSLATED = {"KMeans", "HDBSCAN"}  # method names, the same in both languages


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _literal_texts() -> set[str]:
    """Every literal first argument of ``t(...)`` in the tab modules."""
    found = set()
    for path in APP_UI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "t" and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def test_every_text_written_by_the_server_has_a_chinese_translation() -> None:
    texts = _literal_texts()
    assert len(texts) > 120  # the scan finds the page's texts
    missing = sorted(x for x in texts if x not in ZH)
    assert not missing, f"no Chinese for: {missing[:10]}"


def test_translations_keep_their_placeholders() -> None:
    wrong = {k: v for k, v in ZH.items() if _placeholders(k) != _placeholders(v)}
    assert not wrong
    assert t("{n} got the {arm}", "zh", n=3, arm="x") == "3 位收到x"
    assert t("not in the table", "zh") == "not in the table"  # a missing translation shows English


@pytest.mark.integration
def test_every_registered_widget_text_is_translated(app_service) -> None:
    from app import build_demo

    registry = build_demo(app_service).page_texts  # the page object only; nothing is launched
    missing = []
    for _, texts in registry.items:
        for attr, value in texts.items():
            shown = [c[0] for c in value if isinstance(c, tuple)] if attr == "choices" and not callable(value) \
                else [value] if isinstance(value, str) else []
            missing += [x for x in shown if x and x not in ZH and x not in UNTRANSLATED]
    assert len(registry.items) > 80 and not missing, missing


@pytest.mark.integration
def test_switching_the_page_to_chinese_changes_labels_names_and_messages(app_url: str, app_service) -> None:
    from gradio_client.exceptions import AppError

    from tests.fixtures.app import app_client

    client = app_client(app_url)
    out = client.predict("zh", api_name="/language")
    labels = [o.get("label") for o in out if isinstance(o, dict) and o.get("label")]
    assert "客户" in labels and "多样性" in labels and "Customer" not in labels
    cid = app_service.customer_ids(1)[0]
    details, segment_md, strategy_md = client.predict(cid, api_name="/segment")
    zh_name = app_service.segment_name(details["l2"], "zh")
    assert "**客群：**" in segment_md and zh_name in segment_md and zh_name in strategy_md
    assert "语气" in strategy_md and "邮件用中文撰写" not in strategy_md  # emails are Chinese, like the page
    with pytest.raises(AppError, match="^多样性"):
        client.predict(cid, 12, 7, 0, api_name="/compose")
    # Another session (another user) keeps its own language.
    other = app_client(app_url)
    assert "**Segment:**" in other.predict(cid, api_name="/segment")[1]
    english = client.predict("en", api_name="/language")
    assert "Customer" in [o.get("label") for o in english if isinstance(o, dict)]
    _, _, strategy_en = client.predict(cid, api_name="/segment")
    assert "Tone" in strategy_en and "the emails are written in Chinese" in strategy_en


@pytest.mark.integration
def test_the_segmenters_reasons_read_in_chinese(app_service) -> None:
    import re

    from genemail.app_ui.i18n import reason_text

    name = lambda segment: app_service.segment_name(segment, "zh")  # noqa: E731
    reasons = {r for cid in app_service.customer_ids(60) for r in app_service.segment(cid).reasons}
    assert len(reasons) > 20
    english = [r for r in reasons if re.search(r"[A-Za-z]{3,}", reason_text(r, "zh", name))]
    assert not english, english[:5]
    assert reason_text("Last purchase 39 days ago (> 30, ≤ 60): cooling off, worth re-engaging", "zh") == \
        "上次购买在 39 天前（> 30，≤ 60）：开始冷淡，值得唤回"
    assert reason_text("Low value tier: spends ¥26 a year, bottom 13% of customers", "zh") == \
        "低价值层级：年消费 ¥26，位于后 13%"
    assert reason_text("Something new the segmenter says", "zh") == "Something new the segmenter says"  # kept
