"""A new release revision derived from a published one: a few files or pins replaced, the rest kept.

The strategy studio saves through it (a new strategies file and segment thresholds), and so does
publishing what the studio retrained (new adapter or segmenter commits). The new revision is one
atomic commit on the release repo's ``main`` (``release.json``, card and the changed files together,
so no commit ever holds a manifest that does not match its files) whose title and description say
what changed and who changed it, tagged with the next free ``vN``. Tags never move, so the release
an app serves (a tag) is untouched until someone switches to the new one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from genemail.clock import utc_now
from genemail.errors import HubError
from genemail.hub import cards
from genemail.hub.errors import hub_errors
from genemail.hub.manifest import MANIFEST_FILENAME, ArtifactPin, FileRef, ReleaseManifest
from genemail.hub.publish import STRATEGIES_FILE, RepoPlan, strategies_ref, sync_repo, tag_commit

if TYPE_CHECKING:
    from huggingface_hub import HfApi

_VN = re.compile(r"v(\d+)")


@dataclass(frozen=True)
class DerivedRelease:
    """The new release revision: its tag and commit, the commit it was derived from, its manifest."""

    repo_id: str
    tag: str
    release_sha: str
    parent_sha: str
    manifest: ReleaseManifest


def next_tag(tags: Iterable[str]) -> str:
    """The next free ``vN`` after the highest ``vN`` tag (``v1`` when there is none)."""
    numbers = [int(m.group(1)) for tag in tags if (m := _VN.fullmatch(tag))]
    return f"v{max(numbers, default=0) + 1}"


def release_files(api: "HfApi", repo_id: str, revision: str) -> tuple[str, dict[str, Path]]:
    """(full commit sha, path -> local file) of every file of the release at ``revision``."""
    from huggingface_hub import snapshot_download

    with hub_errors(repo_id, revision, action="read from"):
        sha = api.repo_info(repo_id, revision=revision).sha
        folder = Path(snapshot_download(repo_id, revision=sha, token=api.token))
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
             if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
    if MANIFEST_FILENAME not in files:
        raise HubError(f"revision {revision!r} has no {MANIFEST_FILENAME}: it is not a GenEmail release",
                       where=repo_id, fix="derive from a release tag such as v1")
    return str(sha), files


def publish_pin(api: "HfApi", plan: RepoPlan, tag: str, *, title: str, description: str | None = None) -> ArtifactPin:
    """Commit ``plan`` to its repo (nothing when unchanged), tag the commit ``tag``, return the pin."""
    repo = sync_repo(api, plan, private=False, message=title, description=description)
    tag_commit(api, repo, tag)
    return ArtifactPin(repo.repo_id, repo.repo_type, repo.sha, tuple(sorted(plan.files)))


def derive_release(repo_id: str, base_revision: str, *, title: str, description: str,
                   files: Mapping[str, bytes] | None = None, pins: Mapping[str, ArtifactPin] | None = None,
                   tag: str | None = None, token: str | None = None, api: "HfApi | None" = None,
                   rules_file: str | None = None) -> DerivedRelease:
    """Commit a release revision that is ``base_revision`` with ``files`` and ``pins`` replaced, and tag it.

    ``files`` are release-repo files by path: the strategies file and the segment thresholds are
    pinned by their sha256 in the new manifest. ``pins`` replace artifacts by their manifest name
    (``segmenter``, ``adapter:<segment>``); they must already be committed (:func:`publish_pin`).
    ``tag`` None takes the next free ``vN``. Everything else (eval, lineage, other pins) is kept.
    ``rules_file`` names the segment thresholds among ``files`` (the caller's: the Hub knows no stage's
    file names), pinned as the manifest's ``rules``.
    """
    from huggingface_hub import HfApi

    from genemail.hub.release import list_release_tags

    api = api or HfApi(token=token)
    files, pins = dict(files or {}), dict(pins or {})
    parent_sha, current = release_files(api, repo_id, base_revision)
    manifest = ReleaseManifest.from_json(current[MANIFEST_FILENAME].read_text(encoding="utf-8"),
                                         source=f"{repo_id}@{base_revision}/{MANIFEST_FILENAME}")
    changes: dict[str, object] = {"created_at": utc_now()}
    if STRATEGIES_FILE in files:
        changes["strategies"] = strategies_ref(files[STRATEGIES_FILE], f"{repo_id}: {STRATEGIES_FILE}")
    if rules_file is not None and rules_file in files:
        changes["rules"] = FileRef(rules_file, hashlib.sha256(files[rules_file]).hexdigest())
    adapters = dict(manifest.adapters)
    for name, pin in pins.items():
        if name.startswith("adapter:"):
            adapters[name.split(":", 1)[1]] = pin
        elif name in ("segmenter", "base", "corpus", "user_vector"):
            changes[name] = pin
        else:
            raise HubError(f"{name!r} is not an artifact of a release", where=repo_id,
                           fix="replace segmenter, base, corpus, user_vector or adapter:<segment>")
    manifest = replace(manifest, adapters=adapters, **changes)  # type: ignore[arg-type]
    planned: dict[str, Path | bytes] = {**current, **files}
    planned[MANIFEST_FILENAME] = manifest.to_json().encode("utf-8")
    planned["README.md"] = cards.render_release_card(manifest, repo_id, api.endpoint).encode("utf-8")
    tag = tag or next_tag(list_release_tags(repo_id, token=api.token))
    release = sync_repo(api, RepoPlan("release", repo_id, "model", planned), private=False, message=title,
                        description=description)
    tag_commit(api, release, tag)
    return DerivedRelease(repo_id, tag, release.sha, parent_sha, manifest)
