"""README front matter is served safely: bounded aliases, JSON-rendered YAML types, validate-yaml agreeing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from genemail.hub.server.cards import MAX_NODES, parse_card

TOKENS = {"alice": "hf_alice_secret_1"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}


def laughs(levels: int = 9) -> str:
    """The "billion laughs" README: each level refers to the previous one nine times."""
    lines = ["---", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines + ["---", "# card", ""])


READMES = {
    "plain": "---\nlibrary_name: peft\ntags:\n- lora\n---\n# x\n",
    "no front matter": "# just a title\n",
    "empty front matter": "---\n---\n",
    "small aliases": "---\nbase: &b {r: 8}\nadapters: [*b, *b]\n---\n",
    "laughs": laughs(),
    "recursive": "---\na: &a [*a]\n---\n",
    "unclosed": "---\ntitle: x\n",
    "bad yaml": "---\nkey: [unclosed\n---\n",
    "a list": "---\n- a\n- b\n---\n",
    "huge int": "---\nn: " + "9" * 5000 + "\n---\n",
    "deep": "---\nx: " + "[" * 200 + "]" * 200 + "\n---\n",
    "unhashable key": "---\n? [a, b]\n: c\n---\n",
    "python tag": "---\nx: !!python/object/apply:os.system ['true']\n---\n",
    "types": ("---\nday: 2024-05-06\nwhen: 2024-05-06 07:08:09.5+02:00\nnan: .nan\ninf: -.inf\n"
              "blob: !!binary aGVsbG8=\nset: !!set {b, a}\n1: one\n2024-01-01: new year\nnull: nothing\n---\n"),
}


@pytest.fixture
def client(tmp_path: Path):
    from starlette.testclient import TestClient

    from genemail.hub.server.app import create_app

    client = TestClient(create_app(tmp_path / "root", TOKENS), base_url="http://127.0.0.1:9")
    assert client.post("/api/repos/create", json={"name": "card"}, headers=ALICE).status_code == 200
    return client


def push_readme(client, text: str) -> None:
    line = {"key": "file", "value": {"content": base64.b64encode(text.encode()).decode(), "path": "README.md"}}
    resp = client.post("/api/models/alice/card/commit/main", content=json.dumps(line).encode(), headers=ALICE)
    assert resp.status_code == 200, resp.text


def test_billion_laughs_is_refused_and_repo_info_stays_small(client) -> None:
    text = laughs()
    assert len(text.encode()) < 600  # a tiny README...
    push_readme(client, text)
    info = client.get("/api/models/alice/card")
    assert info.status_code == 200
    assert len(info.content) < 5_000  # ...that used to expand to hundreds of MB of cardData
    assert info.json()["cardData"] is None
    check = client.post("/api/validate-yaml", json={"content": text, "repoType": "model"})
    assert check.status_code == 400 and "expands to more than" in check.json()["errors"][0]["message"]


def test_yaml_types_are_rendered_as_json(client) -> None:
    push_readme(client, READMES["types"])
    card = client.get("/api/models/alice/card").json()["cardData"]
    assert card == {
        "day": "2024-05-06", "when": "2024-05-06T05:08:09.500Z", "nan": None, "inf": None,
        "blob": base64.b64encode(b"hello").decode(), "set": ["a", "b"], "1": "one", "2024-01-01": "new year",
        "null": "nothing",
    }


@pytest.mark.parametrize("name", sorted(READMES))
def test_validate_yaml_and_repo_info_agree(client, name: str) -> None:
    text = READMES[name]
    push_readme(client, text)
    info = client.get("/api/models/alice/card")
    assert info.status_code == 200, info.text
    check = client.post("/api/validate-yaml", json={"content": text, "repoType": "model"})
    assert check.status_code in (200, 400)
    errors = check.json()["errors"]
    served = info.json()["cardData"]
    card = parse_card(text)
    if errors:  # refused by validate-yaml => never served
        assert check.status_code == 400 and served is None and card.metadata is None
    else:
        assert check.status_code == 200 and (served or {}) == (card.metadata or {})
        json.dumps(served, allow_nan=False)  # strict JSON


def test_alias_limits_are_exact() -> None:
    # a sequence node plus its items: an alias repeated until just over the limit is refused
    items = MAX_NODES // 2
    ok = "---\nv: &v x\nl: [" + ",".join(["*v"] * (items - 10)) + "]\n---\n"
    too_many = "---\nv: &v x\nl: [" + ",".join(["*v"] * (MAX_NODES + 1)) + "]\n---\n"
    assert parse_card(ok).metadata is not None
    assert parse_card(too_many).metadata is None
