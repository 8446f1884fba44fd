"""The strategy studio's back end: preview, threshold changes, save, retraining jobs, publishing them.

One :class:`StudioService` per app (``GenEmailService.studio``). Every method reads the release the
app serves once (``service.snapshot``) and never changes it: previews edit a copy of its strategies,
saves and published retrainings become new release tags that someone switches to in the Models tab.
Retraining jobs are recorded in their folders as they change and read back when the service starts
(:mod:`genemail.studio.jobfile`): after a restart a finished job can still be published, and one the
restart cut off is shown as interrupted and can be resumed.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from contextlib import contextmanager
from collections.abc import Iterator

from genemail.clock import folder_stamp
from genemail.errors import DataError, HubError
from genemail.studio.edit import apply_edits, edited_book, studio_lines, unified_diff
from genemail.studio.jobfile import load_jobs, write_job
from genemail.studio.retrain import INTERRUPTED, RetrainInputs, RetrainJob, plan_steps, preset
from genemail.studio.save import SavedRevision, check_editor, save_studio

if TYPE_CHECKING:
    from genemail.segmentation.rules import RuleConfig
    from genemail.service import GenEmailService, GenerationOptions

DORMANT_FIELD = "Dormant after (days without a purchase)"
REENGAGE_FIELD = "Needs re-engagement after (days without a purchase)"
MAX_DAYS = 3650


@contextmanager
def _hub_write(where: str, then: str) -> Iterator[None]:
    """A Hub failure while writing, in words for whoever is at the page (no setting names or commands)."""
    try:
        yield
    except HubError as err:
        if "refused the token" in err.what:
            raise HubError("the Hub did not let this app write (it has no token that may write to the release's "
                           "repo)", where=where, fix=f"ask whoever runs the app to give it write access to the Hub, "
                           f"then {then}") from None
        raise HubError("the Hub could not be reached or refused the change", where=where,
                       fix=f"{then} in a minute; if it persists, ask whoever runs the app") from None


class StudioService:
    """Preview, save and retrain for the strategy studio, on top of the app's service."""

    def __init__(self, service: GenEmailService) -> None:
        self.service = service
        self._jobs: dict[str, RetrainJob] = {job.job_id: job for job in load_jobs(service.work_dir / "retraining")}
        self._saves: dict[str, SavedRevision] = {}  # tag -> what the save made stale
        self._lock = threading.Lock()

    # -- preview ---------------------------------------------------------------------------------
    def preview(self, segment: str, edits: Mapping[str, Any], n: int = 3,
                options: GenerationOptions | None = None) -> dict[str, Any]:
        """``segment``'s strategy with ``edits`` applied, tried on its first ``n`` demo customers.

        ``edits`` may set ``tone``, ``greeting``, ``focus``, ``call_to_action`` (text) and
        ``must_not_say`` (phrases), in the language the emails are written in. The emails go through
        the quality gate as any other; the release in use is not changed (a copy of its strategies is
        edited). Returns the edited texts, a unified diff of the change and one row per customer.
        """
        import dataclasses

        svc = self.service
        snap = svc.snapshot
        lang = svc.config.lang
        text = snap.strategies.for_segment(segment).text(lang)
        edited = apply_edits(text, edits)
        trial = dataclasses.replace(snap, strategies=edited_book(snap.strategies, segment, lang, edited))
        before, after = studio_lines(text), studio_lines(edited)
        diff = unified_diff(before, after, f"{segment} (release {snap.revision})", f"{segment} (edited)")
        ids = [cid for cid, seg in svc.customer_segments().items() if seg == segment][:n]
        rows = []
        for cid in ids:
            result = svc._compose(trial, svc.table.row(cid), options)
            rows.append({"customer_id": cid, "email": result.email, "qa": getattr(result, "qa", None)})
        return {"segment": segment, "texts": after, "diff": diff, "rows": rows, "changed": before != after}

    # -- segment thresholds ----------------------------------------------------------------------
    def thresholds(self) -> RuleConfig:
        """The segment thresholds of the release in use (its own file, else the segmenter's)."""
        return self.service.snapshot.rule_config

    @staticmethod
    def rules(dormant_days: float, reengage_days: float) -> RuleConfig:
        """New thresholds from the page; a bad pair names the field to fix."""
        from genemail.segmentation.rules import RuleConfig

        if not reengage_days < dormant_days:
            raise DataError(f"{reengage_days:g} days is not fewer than the {dormant_days:g} days after which a "
                            "customer is dormant", where=REENGAGE_FIELD,
                            fix="give fewer days here than for dormant customers")
        return RuleConfig(dormant_days=float(dormant_days), reengage_days=float(reengage_days))

    def moves(self, rules: RuleConfig) -> tuple[int, Counter[tuple[str, str]], list[str]]:
        """(customers loaded, (from, to) -> customers that would change segment under ``rules``, segments emptied)."""
        from genemail.studio.moves import segment_moves

        snap = self.service.snapshot
        customers = self.service.customers
        return (len(customers), *segment_moves(snap.segmenter, customers, snap.rule_config, rules))

    # -- save -----------------------------------------------------------------------------------
    def save(self, segment: str | None, edits: Mapping[str, Any] | None, rules: RuleConfig,
             editor: str) -> SavedRevision:
        """The edited strategy and ``rules`` as a new release revision (the release in use stays)."""
        svc = self.service
        editor = check_editor(editor)
        snap = svc.snapshot
        lang = svc.config.lang
        edited = apply_edits(snap.strategies.for_segment(segment).text(lang), edits or {}) if segment else None
        with _hub_write("Save", "save again (nothing was saved)"):
            saved = save_studio(snap, segment=segment, edited=edited, rules=rules, editor=editor, lang=lang,
                                token=svc.config.token)
        with self._lock:
            self._saves[saved.tag] = saved
        return saved

    # -- retraining ------------------------------------------------------------------------------
    def retrain(self, tag: str, editor: str) -> RetrainJob:
        """Start retraining what the save ``tag`` made stale, in the background, into a new folder."""
        from genemail.hub.release import pull_release

        svc = self.service
        editor = check_editor(editor)
        with self._lock:
            saved = self._saves.get(tag)
        if saved is None or not saved.retraining.needed:
            raise DataError("there is nothing to retrain", where="Retraining",
                            fix="save a change of a segment's voice or of the thresholds first")
        with self._lock:
            self._check_none_running()
        config = preset(svc.config.retrain_preset)
        pulled = pull_release(svc.config.release_repo, tag, token=svc.config.token)  # cached: the save's own files
        base = pulled.base_model_path or (pulled.base_model.id if pulled.base_model else None)
        folder = svc.work_dir / "retraining" / f"{tag}-{folder_stamp()}-{secrets.token_hex(2)}"
        inputs = RetrainInputs(
            tag=tag, folder=folder,
            strategies=pulled.strategies or svc.snapshot.strategies.source,  # type: ignore[arg-type]
            segmenter_dir=pulled.segmenter_path.parent, base_model=str(base),
            base_model_id=pulled.base_model.id if pulled.base_model else None, lang=svc.config.lang,
            adapters=saved.retraining.adapters, segmenter=saved.retraining.segmenter,
            dormant_days=saved.rules.dormant_days, reengage_days=saved.rules.reengage_days,
            customers=svc.config.customers_path)
        job = RetrainJob(job_id=secrets.token_hex(4), inputs=inputs, steps=plan_steps(inputs, config), editor=editor,
                         on_change=write_job)
        with self._lock:  # checked again: another start may have slipped in while this one pulled the release
            self._check_none_running()
            self._jobs[job.job_id] = job
            write_job(job)  # recorded before it is reported started: a restart from now on finds it
            return job.start()

    def _check_none_running(self) -> None:
        if any(not j.done for j in self._jobs.values()):
            raise DataError("a retraining is still running", where="Retraining",
                            fix="wait for it to finish, or cancel it")

    def resume(self, job_id: str | None) -> RetrainJob:
        """Run again a job that an app restart interrupted, from the step it was in (None: the newest job)."""
        job = self.job(job_id)
        if job is None or job.state != INTERRUPTED:
            raise DataError("no interrupted retraining to start again", where="Retraining",
                            fix="start a new retraining after saving a change")
        with self._lock:
            self._check_none_running()
            return job.resume()

    def job(self, job_id: str | None) -> RetrainJob | None:
        """The job ``job_id`` (None: the newest, so a reloaded page finds it again)."""
        with self._lock:
            if job_id:
                return self._jobs.get(job_id)
            return max(self._jobs.values(), key=lambda j: j.started, default=None)

    def publish_retrained(self, job_id: str | None, editor: str) -> str:
        """Publish a finished job's models as a new release revision derived from its save; return the tag."""
        from huggingface_hub import HfApi

        from genemail.hub.derive import derive_release, next_tag, publish_pin
        from genemail.hub.publish import adapter_plan, segmenter_plan
        from genemail.hub.release import list_release_tags

        editor = check_editor(editor)
        job = self.job(job_id)
        if job is None or job.state != "finished":
            raise DataError("no finished retraining to publish", where="Retraining",
                            fix="start the retraining and wait until it says it finished")
        if job.published:
            return job.published
        svc = self.service
        api = HfApi(token=svc.config.token)
        repo_id = svc.config.release_repo
        namespace = repo_id.split("/", 1)[0]
        title = f"Strategy studio: retrained {', '.join(job.outputs())} for release {job.inputs.tag}, by {editor}"
        description = (f"Retrained in the strategy studio (started by {job.editor}, published by {editor}) "
                       f"from release {job.inputs.tag}: {', '.join(job.outputs())}.")
        with _hub_write("Retraining", "publish again"):
            tag = next_tag(list_release_tags(repo_id, token=svc.config.token))
            pins = {}
            for name, folder in job.outputs().items():
                plan = segmenter_plan(namespace, folder) if name == "segmenter" else \
                    adapter_plan(namespace, folder, job.inputs.base_model_id)
                pins[name] = publish_pin(api, plan, tag, title=title)
            derived = derive_release(repo_id, job.inputs.tag, title=title, description=description, pins=pins,
                                     tag=tag, api=api)
        job.published = derived.tag
        write_job(job)  # published once: after a restart the page shows the tag instead of publishing again
        return derived.tag
