"""``list_models`` / ``list_datasets``: public repos plus the caller's own private ones, never another user's."""

from __future__ import annotations

import uuid

import pytest
from huggingface_hub import HfApi
from huggingface_hub import errors as E


@pytest.fixture
def listed(hub_server, hub_api: HfApi) -> dict:
    """alice: 2 public + 1 private model, 1 public dataset; bob: 1 public + 1 private model; one shared tag."""
    tag = uuid.uuid4().hex[:8]
    bob = HfApi(endpoint=hub_server.endpoint, token=hub_server.bob_token)
    repos = {
        "alice_public": [f"alice/list-{tag}-a", f"alice/list-{tag}-b"],
        "alice_private": [f"alice/list-{tag}-secret"],
        "bob_public": [f"bob/list-{tag}-c"],
        "bob_private": [f"bob/list-{tag}-hidden"],
    }
    for repo in repos["alice_public"]:
        hub_api.create_repo(repo)
    hub_api.create_repo(repos["alice_private"][0], private=True)
    hub_api.create_repo(f"alice/list-{tag}-data", repo_type="dataset")
    bob.create_repo(repos["bob_public"][0])
    bob.create_repo(repos["bob_private"][0], private=True)
    return {"tag": tag, "bob": bob, "anon": HfApi(endpoint=hub_server.endpoint, token=False), **repos}


def ids(models) -> set[str]:
    return {m.id for m in models}


def test_each_caller_sees_public_repos_and_only_their_own_private_ones(hub_api: HfApi, listed: dict) -> None:
    tag = f"list-{listed['tag']}"
    public = set(listed["alice_public"] + listed["bob_public"])
    assert ids(hub_api.list_models(search=tag)) == public | set(listed["alice_private"])
    assert ids(listed["bob"].list_models(search=tag)) == public | set(listed["bob_private"])
    assert ids(listed["anon"].list_models(search=tag)) == public
    private = {m.id: m.private for m in hub_api.list_models(search=tag)}
    assert private[listed["alice_private"][0]] is True and private[listed["alice_public"][0]] is False


def test_search_author_limit_and_datasets(hub_api: HfApi, listed: dict) -> None:
    tag = f"list-{listed['tag']}"
    assert ids(hub_api.list_models(search=tag, author="bob")) == set(listed["bob_public"])
    assert ids(hub_api.list_models(search=tag.upper() + "-A")) == {listed["alice_public"][0]}  # case-insensitive
    assert len(list(hub_api.list_models(search=tag, limit=2))) == 2
    models = list(hub_api.list_models(search=tag))
    assert all(m.sha and m.created_at and m.last_modified for m in models)
    datasets = list(hub_api.list_datasets(search=tag))
    assert ids(datasets) == {f"alice/{tag}-data"}
    assert list(hub_api.list_datasets(search=tag, author="bob")) == []


def test_listing_pages_follow_link_headers(hub_server, hub_api: HfApi, listed: dict) -> None:
    import httpx

    tag = f"list-{listed['tag']}"
    seen, url = [], f"{hub_server.endpoint}/api/models?search={tag}&limit=1"
    while url:
        resp = httpx.get(url, headers={"Authorization": f"Bearer {hub_api.token}"})
        assert resp.status_code == 200
        seen += [m["id"] for m in resp.json()]
        url = resp.links.get("next", {}).get("url")
    assert sorted(seen) == sorted(listed["alice_public"] + listed["alice_private"] + listed["bob_public"])


def test_unsupported_filters_are_refused_not_ignored(hub_api: HfApi) -> None:
    with pytest.raises(E.HfHubHTTPError) as info:
        list(hub_api.list_models(filter="peft"))
    assert info.value.response.status_code == 400 and "filter" in str(info.value)
    with pytest.raises(E.HfHubHTTPError):
        list(hub_api.list_models(sort="downloads"))
