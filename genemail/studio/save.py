"""Saving a studio edit: the strategies file and segment thresholds as a new release revision.

The strategies file and the thresholds file live in the release repo (pinned there by sha256), so a
save is one commit of that repo holding both files and a ``release.json`` that pins them, tagged with
the next ``vN`` (:func:`genemail.hub.derive.derive_release`). The commit's title names what changed
and who changed it; its description carries the editor, the release it was derived from, the diff
and what needs retraining. The release the app serves is a tag and does not move.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genemail.errors import DataError
from genemail.studio.edit import edited_yaml, next_version, studio_lines, unified_diff, voice_changed

if TYPE_CHECKING:
    from genemail.generation.strategies import StrategyText
    from genemail.loading import LoadedSystem
    from genemail.segmentation.rules import RuleConfig

EDITOR_FIELD = "Your name"
MAX_EDITOR = 80


@dataclass(frozen=True)
class Retraining:
    """What a save made stale: adapters whose voice changed, and the segmenter after a rule change."""

    adapters: tuple[str, ...] = ()
    segmenter: bool = False

    @property
    def needed(self) -> bool:
        return bool(self.adapters) or self.segmenter

    def words(self) -> str:
        """For the commit description: e.g. ``adapter Dormant (its voice changed); segmenter (...)``."""
        parts = [f"adapter {a} (its voice changed)" for a in self.adapters]
        if self.segmenter:
            parts.append("segmenter (the segment rules changed)")
        return "; ".join(parts) or "nothing (the changes are read when emails are written and checked)"


@dataclass(frozen=True)
class SavedRevision:
    """A studio save: the new release tag and commit, what it was derived from, what needs retraining."""

    tag: str
    release_sha: str
    parent_revision: str
    parent_sha: str
    editor: str
    title: str
    description: str
    segment: str | None
    strategy_changed: bool
    rules_changed: bool
    rules: RuleConfig
    retraining: Retraining


def check_editor(name: Any) -> str:
    """The editor's name as it goes into the history; blank or unusable names the field."""
    text = " ".join(str(name or "").split())
    if not text:
        raise DataError("is empty", where=EDITOR_FIELD, fix="write your name: it goes into the saved version's history")
    if len(text) > MAX_EDITOR:
        raise DataError(f"is {len(text)} characters long", where=EDITOR_FIELD,
                        fix=f"shorten it to {MAX_EDITOR} characters or fewer")
    return text


def _rule_lines(rules: RuleConfig) -> list[str]:
    return [f"dormant_days: {rules.dormant_days:g}", f"reengage_days: {rules.reengage_days:g}"]


def save_studio(snap: LoadedSystem, *, segment: str | None, edited: StrategyText | None, rules: RuleConfig,
                editor: str, lang: str, token: str | None = None) -> SavedRevision:
    """Commit the edited strategies and ``rules`` as a new revision of ``snap``'s release repo and tag it.

    ``edited`` is ``segment``'s edited ``lang`` texts (None: no strategy edit). Nothing is written when
    nothing changed. The revision is derived from the release ``snap`` serves, so it keeps its pins.
    """
    from huggingface_hub import HfApi

    from genemail.hub.derive import derive_release, next_tag
    from genemail.hub.publish import STRATEGIES_FILE
    from genemail.hub.release import list_release_tags
    from genemail.segmentation.rules import RULES_FILE, rules_to_json

    editor = check_editor(editor)
    repo_id, revision = str(snap.repo_id), str(snap.revision)
    before_text = snap.strategies.for_segment(segment).text(lang) if segment else None
    strategy_changed = edited is not None and before_text is not None and edited != before_text
    rules_before = snap.rule_config
    rules_changed = rules != rules_before
    if not strategy_changed and not rules_changed:
        raise DataError("nothing was changed", where="Save",
                        fix="edit a strategy text or a segment threshold, then save")
    tag = next_tag(list_release_tags(repo_id, token=token))
    source = Path(snap.strategies.source).read_text(encoding="utf-8")
    active_days = round(rules.reengage_days) if rules.reengage_days != rules_before.reengage_days else None
    saved = edited_yaml(source, segment if strategy_changed else None, lang, edited,
                        version=next_version(snap.strategies.version, tag), active_days=active_days)
    files = {STRATEGIES_FILE: saved.encode("utf-8"), RULES_FILE: rules_to_json(rules)}
    diffs, what = [], []
    if strategy_changed:
        assert before_text is not None and edited is not None
        diffs.append(unified_diff(studio_lines(before_text), studio_lines(edited), f"{segment} (release {revision})",
                                  f"{segment} ({tag})"))
        what.append(f"{segment} strategy")
    if rules_changed:
        diffs.append(unified_diff(_rule_lines(rules_before), _rule_lines(rules), f"segment rules (release {revision})",
                                  f"segment rules ({tag})"))
        what.append("segment rules")
    voice = strategy_changed and voice_changed(before_text, edited)  # type: ignore[arg-type]
    # The segmenter is stale whenever the saved thresholds are not the ones it was trained with.
    retraining = Retraining(adapters=(segment,) if voice and segment else (), segmenter=rules != snap.segmenter.rule_config)
    title = f"Strategy studio: {' and '.join(what)} edited by {editor}"
    description = "\n".join([
        f"Edited in the strategy studio by {editor}, from release {revision} ({str(snap.release_sha)[:12]}).",
        "", *[f"```diff\n{d}\n```\n" for d in diffs],
        f"Needs retraining: {retraining.words()}.",
    ])
    derived = derive_release(repo_id, str(snap.release_sha), title=title, description=description, files=files,
                             tag=tag, token=token, rules_file=RULES_FILE)
    return SavedRevision(tag=derived.tag, release_sha=derived.release_sha, parent_revision=revision,
                         parent_sha=derived.parent_sha, editor=editor, title=title, description=description,
                         segment=segment if strategy_changed else None, strategy_changed=strategy_changed,
                         rules_changed=rules_changed, rules=rules, retraining=retraining)
