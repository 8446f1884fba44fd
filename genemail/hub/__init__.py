"""GenEmail hub stage: publish artifacts to a Hub and pull pinned releases back.

Public API (the local Hub server lives in ``genemail.hub.server`` and is not imported here)::

    publish(PublishConfig(artifacts, namespace, tag)) -> PublishResult
    pull_release(repo_id, revision, *, token=None, local_dir=None) -> PulledRelease
    list_release_tags(repo_id) -> list[str]
    ReleaseManifest.from_json(text) / .to_json()
"""

from genemail.hub.manifest import FORMAT_VERSION, ArtifactPin, BaseModelRef, FileRef, ReleaseManifest
from genemail.hub.publish import PublishConfig, PublishedRepo, PublishResult, publish
from genemail.hub.release import (
    PulledAdapter,
    PulledArtifact,
    PulledRelease,
    format_pull_table,
    list_release_tags,
    pull_release,
)

__all__ = [
    "FORMAT_VERSION",
    "ArtifactPin",
    "BaseModelRef",
    "FileRef",
    "PublishConfig",
    "PublishResult",
    "PublishedRepo",
    "PulledAdapter",
    "PulledArtifact",
    "PulledRelease",
    "ReleaseManifest",
    "format_pull_table",
    "list_release_tags",
    "publish",
    "pull_release",
]
