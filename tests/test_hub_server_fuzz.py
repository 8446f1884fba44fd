"""A bounded, seeded fuzz of every endpoint: malformed paths, queries, headers and bodies never get a 5xx.

One server subprocess with its own log; a few hundred requests built from a fixed seed out of
pools of good and bad parts (so that some requests get deep into a handler before they go wrong);
then the log must hold no traceback and no 5xx in the access log.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration

SEED = 20260
REQUESTS = 400
TOKENS = {"alice": "hf_alice_fuzz_secret", "bob": "hf_bob_fuzz_secret"}

ROUTES = [
    ("GET", "/api/health"), ("GET", "/api/whoami-v2"), ("POST", "/api/validate-yaml"),
    ("POST", "/api/repos/create"), ("DELETE", "/api/repos/delete"),
    ("GET", "/api/{t}s"), ("GET", "/api/{t}s/{repo}"), ("GET", "/api/{t}s/{repo}/revision/{rev}"),
    ("GET", "/api/{t}s/{repo}/refs"), ("GET", "/api/{t}s/{repo}/commits/{rev}"),
    ("GET", "/api/{t}s/{repo}/tree/{rev}"), ("GET", "/api/{t}s/{repo}/tree/{rev}/{path}"),
    ("POST", "/api/{t}s/{repo}/paths-info/{rev}"), ("POST", "/api/{t}s/{repo}/preupload/{rev}"),
    ("POST", "/api/{t}s/{repo}/commit/{rev}"), ("POST", "/api/{t}s/{repo}/branch/{rev}"),
    ("DELETE", "/api/{t}s/{repo}/branch/{rev}"), ("POST", "/api/{t}s/{repo}/tag/{rev}"),
    ("DELETE", "/api/{t}s/{repo}/tag/{rev}"), ("PUT", "/api/{t}s/{repo}/settings"),
    ("GET", "/{prefix}{repo}/resolve/{rev}/{path}"), ("HEAD", "/{prefix}{repo}/resolve/{rev}/{path}"),
    ("GET", "/api/resolve-cache/{t}s/{repo}/{rev}/{path}"), ("HEAD", "/api/resolve-cache/{t}s/{repo}/{rev}/{path}"),
    ("PATCH", "/api/{t}s/{repo}"), ("OPTIONS", "/api/whoami-v2"), ("GET", "/{junk}"),
]
# Each pool is (good values, bad values): a part is good with probability GOOD, so many requests get
# deep into a handler before the one bad part they carry is found.
GOOD = 0.75
TYPES = (["model", "model", "dataset"], ["space", "bucket", "%00", "model%2F"])
PREFIXES = (["", "", "datasets/"], ["spaces/", "models/"])
REPOS = (["alice/fz", "alice/fz", "alice/fzp", "alice/fzd"],
         ["bob/none", "a%00/x", "%2E%2E/x", "%ED%A0%80/x", "alice/" + "x" * 300, "alice/fz.git", "alice/%FF",
          "alice/fz%2Fextra", "api/fz", "alice/-", "alice/%20"])
REVS = (["main", "main", "v1", "dev", "{sha}", "{sha7}"],
        ["feat%2Fx", "%00", "..", "main~1", "main%5E", "%ED%A0%80", "x" * 300, "HEAD", "refs%2Fheads%2Fmain", "-rf",
         "--output=x", "%3A%2Fa", "@", "a%0Ab", "0" * 40, "%FF"])
PATHS = (["README.md", "a.txt", "sub/b.bin", "sub"],
         ["nope", "%2E%2E/x", ".git/config", "%00", "%3A(glob)*", "a%5Cb", "%ED%A0%80", "%0A", "a/" * 60 + "z", "*",
          "sub/", "%C3%A9", "x" * 5000, "%25"])
QUERIES = (["", "", "?recursive=1", "?blobs=1", "?search=fz&author=alice", "?limit=1", "?p=1&limit=1",
            "?expand=1&recursive=true", "?sort=lastModified&direction=-1"],
           ["?p=-1", "?p=abc", "?limit=0", "?limit=99999999999999999999", "?p=99999999999", "?create_pr=1",
            "?search=%00", "?filter=x", "?%ZZ=%", "?sort=id&direction=x"])
AUTHS = ([None, "alice", "alice"], ["bob", "Bearer", "Bearer wrong", "Basic YWxpY2U6eA==", "Bearer \u00ff\u00fe",
                                    "bearer  " + TOKENS["alice"]])
RANGES = ([None, None, "bytes=0-1", "bytes=1-"],
          ["bytes=5-2", "bytes=-0", "bytes=99999999999999999999999-", "bytes=0-1,3-4", "junk", "bytes=-99999999999"])
HOSTS = ([None], ["[bad", "localhost:notaport", "x" * 300, "\u00e9.local"])


def _pick(rng: random.Random, pool: tuple[list, list]) -> object:
    return rng.choice(pool[0] if rng.random() < GOOD else pool[1])

def _line(key: str, value: object) -> bytes:
    return json.dumps({"key": key, "value": value}).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


JSON_BODIES: list[bytes] = [
    b"", b"{}", b"[]", b"null", b"42", b'"s"', b"\x00\xff\xfe", b"{" * 3000, b'{"a": ' * 80 + b"1" + b"}" * 80,
    b'{"name": "\\ud800"}', b'{"name": "a\\u0000"}', b'{"name": NaN}', b'{"name": 1e999}', b"\xef\xbb\xbf{}",
    b'{"name": "' + b"9" * 5000 + b'"}', b'{"name": ' + b"9" * 5000 + b"}",
    json.dumps({"name": "fzgone"}).encode(), json.dumps({"name": "alice/fz", "type": "dataset"}).encode(),
    json.dumps({"name": ["x"], "organization": {"a": 1}, "type": 3, "private": "false", "visibility": 1}).encode(),
    json.dumps({"name": "n" * 200}).encode(), json.dumps({"private": "true"}).encode(),
    json.dumps({"private": True}).encode(), json.dumps({"visibility": "public"}).encode(),
    json.dumps({"gated": "auto"}).encode(), json.dumps({"tag": "v1"}).encode(), json.dumps({"tag": "t/../x"}).encode(),
    json.dumps({"tag": 5, "message": ["m"]}).encode(), json.dumps({"startingPoint": "nope"}).encode(),
    json.dumps({"startingPoint": {"x": 1}}).encode(), json.dumps({"files": "x"}).encode(),
    json.dumps({"files": [{"path": "a.txt", "size": 1, "sample": ""}, {"path": "../x"}, 7]}).encode(),
    json.dumps({"files": [{"path": "\ud800"}]}, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    json.dumps({"paths": ["a.txt", 3, None, ".git"]}).encode(), json.dumps({"paths": "a.txt"}).encode(),
    json.dumps({"content": "---\nx: &a [*a]\n---\n", "repoType": "model"}).encode(),
    json.dumps({"content": "---\na: !!python/name:os.system\n---\n"}).encode(), json.dumps({"content": 7}).encode(),
    b"paths=a.txt&paths=%2E%2E&expand=false", b"paths=%FF%FE", b"paths=%00", b"=&&=&paths",
]
NDJSON_BODIES: list[bytes] = [
    b"", b"\n\n", b"not json\n", b"[]\n", b'{"key": "header"}\n', b'{"key": "file", "value": 1}\n',
    _line("header", {"summary": "fuzz", "parentCommit": "abc"}),
    _line("header", {"summary": "fuzz", "parentCommit": "0" * 40}) + b"\n" + _line("file", {"path": "f.txt", "content": "QQ=="}),
    _line("header", {"summary": ["x"]}), _line("file", {"path": "f.txt", "content": "QQ"}),
    _line("file", {"path": "f.txt", "content": "Q" * 300_001}), _line("file", {"path": "f.txt", "content": "!" * 300_000}),
    _line("file", {"path": ".git/hooks/x", "content": "QQ=="}), _line("file", {"path": "a/", "content": "QQ=="}),
    _line("file", {"path": "a.txt/inner", "content": "QQ=="}), _line("file", {"path": "sub", "content": "QQ=="}),
    _line("deletedFile", {"path": "nope"}), _line("deletedFolder", {"path": "nowhere"}),
    _line("deletedFile", {}), _line("lfsFile", {"path": "x", "oid": "0" * 64, "size": 1}),
    _line("header", {"summary": "s"}) + b"\n" + _line("header", {"summary": "again"}),
    b'{"key": "file", "value": {"path": "f", "content": "' + b"QUFB" * 80_000 + b"\\u12",
    b'{"key": "file", "value": {"path": "f", "content": "' + b"QUFB" * 80_000 + b'"\n}}',
    b'{"key": "header", "value": {"summary": "\\udfff"}}\n', b"[" * 50_000,
    _line("header", {"summary": "record\x1eseparator\x1f", "description": "\x1e"}) + b"\n"
    + _line("file", {"path": "rs.txt", "content": _b64(b"rs")}),
    _line("file", {"path": "ok.txt", "content": _b64(b"fuzzed")}),
]


Request = tuple[str, str, dict[str, str], bytes]
_PARTS = {"t": TYPES, "prefix": PREFIXES, "repo": REPOS, "rev": REVS, "path": PATHS, "query": QUERIES,
          "auth": AUTHS, "range": RANGES, "host": HOSTS}
_JSON_ROUTES = [(m, t) for m, t in ROUTES if m in ("POST", "PUT", "DELETE") and "/commit/" not in t]
_COMMIT_ROUTE = ("POST", "/api/{t}s/{repo}/commit/{rev}")


def _build(rng: random.Random, sha: str, route: tuple[str, str], *, bad: tuple[str, ...] = (),
           body: bytes | None = None) -> Request:
    """One request on ``route``: the parts named in ``bad`` come from the bad pools, the rest are good."""
    method, template = route
    part = {name: rng.choice(pool[1] if name in bad else pool[0]) for name, pool in _PARTS.items()}
    if body is not None:
        part["auth"] = "alice"  # a body is only read once the caller may write
    fill = {**part, "rev": str(part["rev"]).format(sha=sha, sha7=sha[:7]),
            "junk": rng.choice(["", "%00", "api", "api/models/", "x" * 3000, "%2F%2F"])}
    url = template.format(**fill) + str(part["query"])
    headers: dict[str, str] = {}
    auth = part["auth"]
    if auth in TOKENS:
        headers["Authorization"] = f"Bearer {TOKENS[auth]}"
    elif auth is not None:
        headers["Authorization"] = str(auth)
    for name, key in (("Range", "range"), ("Host", "host")):
        if part[key] is not None:
            headers[name] = str(part[key])
    if method in ("POST", "PUT", "DELETE"):
        if body is None:
            body = rng.choice(NDJSON_BODIES if "/commit/" in template else JSON_BODIES)
        headers["Content-Type"] = rng.choice(["application/json", "application/x-ndjson",
                                              "application/x-www-form-urlencoded", "text/plain"])
    return method, url, headers, body or b""


def plan(seed: int, sha: str) -> list[Request]:
    """The fuzz run: every route all-good and with each part bad in turn, every body, then random mixes."""
    rng = random.Random(seed)
    requests = []
    for route in ROUTES:
        requests.append(_build(rng, sha, route))
        for name in _PARTS:
            if name in ("query", "auth", "range", "host") or "{" + name + "}" in route[1]:
                requests.append(_build(rng, sha, route, bad=(name,)))
    requests += [_build(rng, sha, _COMMIT_ROUTE, body=body) for body in NDJSON_BODIES]
    requests += [_build(rng, sha, rng.choice(_JSON_ROUTES), body=body) for body in JSON_BODIES]
    while len(requests) < REQUESTS:
        requests.append(_build(rng, sha, rng.choice(ROUTES), bad=tuple(n for n in _PARTS if rng.random() > GOOD)))
    return requests


def _send(endpoint: str, method: str, url: str, headers: dict[str, str], body: bytes) -> int:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, url, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value.encode("latin-1"))
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    """A server with alice/fz (README, files, tag v1, branch dev), private alice/fzp, dataset alice/fzd."""
    from huggingface_hub import HfApi

    from genemail.hub.server.runner import ServeConfig, start_process
    from tests.fixtures.net import free_port

    root = tmp_path_factory.mktemp("fuzz")
    server = start_process(ServeConfig(root=root / "root", tokens=TOKENS, port=free_port()),
                           log_path=root / "server.log")
    try:
        api = HfApi(endpoint=server.endpoint, token=TOKENS["alice"])
        api.create_repo("alice/fz")
        api.create_repo("alice/fzp", private=True)
        api.create_repo("alice/fzd", repo_type="dataset")
        src = root / "src"
        (src / "sub").mkdir(parents=True)
        (src / "README.md").write_text("---\nlibrary_name: peft\ntags: [lora]\n---\n# fz\n")
        (src / "a.txt").write_text("a")
        (src / "sub" / "b.bin").write_bytes(bytes(range(256)))
        sha = api.upload_folder(repo_id="alice/fz", folder_path=src).oid
        api.create_tag("alice/fz", tag="v1")
        api.create_branch("alice/fz", branch="dev")
        yield server.endpoint, root / "server.log", sha
    finally:
        server.stop()


def test_fuzzing_every_endpoint_gets_no_5xx_and_no_traceback(fuzz_server) -> None:
    endpoint, log_path, sha = fuzz_server
    started = time.monotonic()
    failures, statuses = [], []
    for method, url, headers, body in plan(SEED, sha):
        status = _send(endpoint, method, url, headers, body)
        statuses.append(status)
        if status >= 500:
            failures.append((status, method, url[:200], headers, body[:200]))
    elapsed = time.monotonic() - started
    assert not failures, failures[:5]
    assert elapsed < 120
    assert len(set(statuses)) >= 6  # the requests reached many different outcomes, not one early refusal
    assert sum(s < 300 for s in statuses) > 20 and sum(s == 400 for s in statuses) > 50
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:3000]
    assert not re.search(r'" 5\d\d ', log)
