"""The strategy studio's second half: segment thresholds, saving as a new release, and retraining.

Below the strategy editor (:mod:`genemail.app_ui.studio`): the two thresholds of the segment rules
with how many loaded customers they would move, the editor's name and the save button (a new release
tag; the release in use stays until someone switches in the Models tab), then what needs retraining
with a button that starts it as a background job, its progress (polled by a timer, so other tabs keep
working), a cancel button and, once it finished, publishing its models as another release. The newest
job is shown again when the tab opens, also after an app restart (jobs are recorded in their
folders); one the restart cut off says so and has a button that starts it again.

API endpoints: ``/studio_resegment`` (thresholds -> who would move), ``/studio_save`` (segment, texts,
thresholds, name -> what was saved and what needs retraining), ``/studio_retrain`` (name -> job
started), ``/studio_job`` (-> progress), ``/studio_cancel``, ``/studio_publish`` (name -> new release),
``/studio_resume`` (-> the interrupted job started again).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from genemail.app_ui.common import FieldError, field_error, guard, number_field, segment_label
from genemail.app_ui.i18n import Texts, t
from genemail.errors import DataError, HubError
from genemail.service import GenEmailService
from genemail.studio.retrain import CANCELLED, FINISHED, INTERRUPTED, RUNNING, RetrainJob
from genemail.studio.save import EDITOR_FIELD, MAX_EDITOR, SavedRevision
from genemail.studio.service import DORMANT_FIELD, MAX_DAYS, REENGAGE_FIELD

POLL_SECONDS = 2.0
STEP_WORDS = {"customers": "preparing the customers to learn from",
              "segmenter": "retraining the model that sorts customers into segments",
              "corpus": "writing example emails in the new voice",
              "adapters": "retraining the segment's writing model"}


@contextmanager
def _in_page_language(lang: str) -> Iterator[None]:
    """The studio service's user errors in the page's language (its texts are English keys of the zh table)."""
    try:
        yield
    except (DataError, HubError) as err:
        if lang != "zh" or isinstance(err, FieldError):
            raise
        raise field_error(t(err.where or "", lang), t(err.what, lang), t(err.fix or "", lang), lang) from None


def _days(service: GenEmailService, name: str) -> int | None:
    """A threshold of the release in use, in whole days (None without a release)."""
    if not service.ready:
        return None
    return round(getattr(service.studio.thresholds(), name))


def _rules(service: GenEmailService, dormant: Any, reengage: Any, lang: str) -> Any:
    low, high = 1, MAX_DAYS
    reengage_days = number_field(reengage, t(REENGAGE_FIELD, lang), low=low, high=high, whole=True, lang=lang)
    dormant_days = number_field(dormant, t(DORMANT_FIELD, lang), low=low, high=high, whole=True, lang=lang)
    if not reengage_days < dormant_days:
        raise field_error(t(REENGAGE_FIELD, lang),
                          t("{days} days is not fewer than the {dormant} days after which a customer is dormant",
                            lang, days=reengage_days, dormant=dormant_days),
                          t("give fewer days here than for dormant customers", lang), lang)
    return service.studio.rules(dormant_days, reengage_days)


def moves_markdown(service: GenEmailService, total: int, moves: Any, emptied: list[str], lang: str) -> str:
    """Who would change segment, in sentences with their numbers (and which segments would be left empty)."""
    moved = sum(moves.values())
    if not moved:
        return t("No loaded customer would change segment (of {total}).", lang, total=total)
    for segment in emptied:
        gr.Warning(t("With these thresholds no loaded customer stays in {segment}: its writing model could not be "
                     "retrained.", lang, segment=segment_label(service, segment, lang)))
    lines = [t("**{n}** of the {total} loaded customers would change segment:", lang, n=moved, total=total)]
    for (before, after), n in moves.most_common():
        lines.append("- " + t("{n} from {before} to {after}", lang, n=n,
                              before=html.escape(segment_label(service, before, lang)),
                              after=html.escape(segment_label(service, after, lang))))
    return "\n".join(lines)


def retraining_markdown(service: GenEmailService, saved: SavedRevision, lang: str) -> str:
    """What the save made stale, in plain words."""
    needs = saved.retraining
    if not needs.needed:
        return t("Nothing needs retraining: these changes are read when each email is written and checked.", lang)
    parts = [t("the writing model of **{segment}** (its voice changed)", lang,
               segment=html.escape(segment_label(service, s, lang))) for s in needs.adapters]
    if needs.segmenter:
        parts.append(t("the model that sorts customers into segments (the thresholds changed)", lang))
    return (t("Needs retraining: {parts}.", lang, parts=t(" and ", lang).join(parts)) + " "
            + t("Until it is retrained, **{tag}** uses the current models with the new texts and thresholds; every "
                "email still goes through the quality check.", lang, tag=saved.tag))


def job_markdown(service: GenEmailService, job: RetrainJob | None, lang: str) -> str:
    """A retraining job's progress or outcome, in a sentence."""
    if job is None:
        return ""
    tag, live = job.inputs.tag, (service.snapshot.revision if service.ready else "-")
    seconds = round((job.ended or time.time()) - job.started)
    if job.state == RUNNING:
        step = min(job.step, len(job.steps) - 1)
        return t("⏳ Retraining for release **{tag}**: step {i} of {n}, {step} ({s} s so far). The app keeps serving "
                 "**{live}** meanwhile.", lang, tag=tag, i=step + 1, n=len(job.steps),
                 step=t(STEP_WORDS.get(job.steps[step][0], job.steps[step][0]), lang), s=seconds, live=live)
    if job.state == FINISHED and job.published:
        return t("✅ Published the retrained models as release **{new}**. Switch to it in the Models tab when you are "
                 "ready.", lang, new=job.published)
    if job.state == FINISHED:
        return t("✅ Retraining for release **{tag}** finished in {s} s. Nobody uses the new models yet: publish them "
                 "as a new release, then switch to it in the Models tab.", lang, tag=tag, s=seconds)
    if job.state == CANCELLED:
        return t("Retraining for release **{tag}** was cancelled; nothing was published.", lang, tag=tag)
    step = t(STEP_WORDS.get(job.step_name or "", job.step_name or ""), lang)
    if job.state == INTERRUPTED:
        return t("⚠️ Retraining for release **{tag}** was interrupted at step {i} of {n}, {step}: the app restarted "
                 "meanwhile. Nothing was published and the release in use is unchanged. Start it again to go on from "
                 "that step.", lang, tag=tag, i=min(job.step, len(job.steps) - 1) + 1, n=len(job.steps), step=step)
    return t("⚠️ Retraining for release **{tag}** stopped while {step}. The release in use is unchanged; ask whoever "
             "runs the app to look at the retraining's log.", lang, tag=tag, step=step)


def build(service: GenEmailService, texts: Texts, lang: gr.State, segment: Any,
          edits: list[Any]) -> list[tuple[Any, list[Any], list[Any]]]:
    """Lay out the thresholds, save and retraining sections (inside the studio tab) and wire them.

    ``segment`` and ``edits`` (tone, greeting, focus, call to action, phrases) are the editor's widgets.
    Returns the (function, inputs, outputs) that show the newest retraining job; the page runs it when
    the tab opens.
    """
    texts.make(gr.Markdown, "### Segment thresholds\nHow many days without a purchase move a customer from "
                            "active to needing re-engagement, and on to dormant. Value tiers are learned from the "
                            "customers' spending and have no threshold to set.")
    def reengage_days_in_use() -> int | None:
        """Days without a purchase after which an active customer needs re-engagement, in the release in use."""
        return _days(service, "reengage_days")

    def dormant_days_in_use() -> int | None:
        """Days without a purchase after which a customer is dormant, in the release in use."""
        return _days(service, "dormant_days")

    with gr.Row():  # the values are read again on every page load (a switch may have changed them)
        reengage = texts.make(gr.Number, value=reengage_days_in_use, label=REENGAGE_FIELD, precision=0,
                              elem_id="studio-reengage")
        dormant = texts.make(gr.Number, value=dormant_days_in_use, label=DORMANT_FIELD, precision=0,
                             elem_id="studio-dormant")
    count = texts.make(gr.Button, "Count who would change segment", elem_id="studio-count")
    moves = gr.Markdown(elem_id="studio-moves")
    texts.make(gr.Markdown, "### Save\nSaving makes a new release version with these texts and thresholds. "
                            "Nobody gets it until someone switches to it in the Models tab.")
    with gr.Row():
        editor = texts.make(gr.Textbox, label=EDITOR_FIELD, max_length=MAX_EDITOR, elem_id="studio-editor",
                            placeholder="who made this change")
        save = texts.make(gr.Button, "Save as a new release version", variant="primary", elem_id="studio-save")
    saved_text = gr.Markdown(elem_id="studio-saved")
    saved_tag = gr.State(None)
    job_id = gr.State(None)
    with gr.Row():
        retrain = texts.make(gr.Button, "Start retraining", visible=False, elem_id="studio-retrain")
        cancel = texts.make(gr.Button, "Cancel retraining", variant="stop", visible=False, elem_id="studio-cancel")
        publish = texts.make(gr.Button, "Publish the retrained models as a new release", variant="primary",
                             visible=False, elem_id="studio-publish")
        resume = texts.make(gr.Button, "Start the interrupted retraining again", visible=False,
                            elem_id="studio-resume")
    job_text = gr.Markdown(elem_id="studio-job")
    timer = gr.Timer(POLL_SECONDS, active=False)

    @guard
    def on_moves(dormant_v: Any, reengage_v: Any, lang_: str = "en") -> str:
        """How many loaded customers the thresholds would move between segments.

        Args:
            dormant_v: days without a purchase after which a customer is dormant.
            reengage_v: days without a purchase after which an active customer needs re-engagement.
        """
        total, found, emptied = service.studio.moves(_rules(service, dormant_v, reengage_v, lang_))
        return moves_markdown(service, total, found, emptied, lang_)

    @guard
    def on_save(name: str | None, tone_v: str, greeting_v: str, focus_v: str, cta_v: str, avoid_v: str,
                dormant_v: Any, reengage_v: Any, editor_v: str, lang_: str = "en") -> tuple[Any, ...]:
        """Save the edited strategy and thresholds as a new release version (the release in use stays).

        Args:
            name: the segment whose strategy was edited (empty: thresholds only).
            tone_v: the tone of voice.
            greeting_v: how the email greets the customer.
            focus_v: what the email is about.
            cta_v: the call to action.
            avoid_v: phrases this segment's emails must never contain, comma-separated.
            dormant_v: days without a purchase after which a customer is dormant.
            reengage_v: days without a purchase after which an active customer needs re-engagement.
            editor_v: the name of whoever made the change (recorded in the release's history).
        """
        if not str(editor_v or "").strip():
            raise field_error(t(EDITOR_FIELD, lang_), t("is empty", lang_),
                              t("write your name: it goes into the saved version's history", lang_), lang_)
        rules = _rules(service, dormant_v, reengage_v, lang_)
        edits = {"tone": tone_v, "greeting": greeting_v, "focus": focus_v, "call_to_action": cta_v,
                 "must_not_say": avoid_v} if name else None
        with _in_page_language(lang_):
            saved = service.studio.save(name or None, edits, rules, editor_v)
        live = service.snapshot.revision
        head = t("✅ Saved by **{editor}** as release **{tag}**, made from release **{parent}**. The app still serves "
                 "**{live}**: switch to **{tag}** in the Models tab when you are ready (it applies to everyone).",
                 lang_, editor=html.escape(saved.editor), tag=saved.tag, parent=saved.parent_revision, live=live)
        text = head + "\n\n" + retraining_markdown(service, saved, lang_)
        gr.Info(t("Saved as release {tag}.", lang_, tag=saved.tag))
        return text, saved.tag, gr.update(visible=saved.retraining.needed)

    @guard
    def on_retrain(tag: str | None, editor_v: str, lang_: str = "en") -> tuple[Any, ...]:
        """Start retraining what the last save made stale, in the background."""
        if not str(editor_v or "").strip():
            raise field_error(t(EDITOR_FIELD, lang_), t("is empty", lang_),
                              t("write your name: it goes into the saved version's history", lang_), lang_)
        if not tag:
            raise field_error(t("Retraining", lang_), t("there is nothing to retrain", lang_),
                              t("save a change first", lang_), lang_)
        with _in_page_language(lang_):
            job = service.studio.retrain(tag, editor_v)
        return (job_markdown(service, job, lang_), job.job_id, gr.Timer(active=True), gr.update(visible=False),
                gr.update(visible=True), gr.update(visible=False))

    @guard
    def on_poll(job: str | None, lang_: str = "en") -> tuple[Any, ...]:
        """The retraining job's progress or outcome (no job in the session: the newest one)."""
        found = service.studio.job(job)
        running = found is not None and not found.done
        finished = found is not None and found.state == FINISHED and not found.published
        interrupted = found is not None and found.state == INTERRUPTED
        return (job_markdown(service, found, lang_), gr.Timer(active=running), gr.update(visible=running),
                gr.update(visible=finished), gr.update(visible=interrupted))

    @guard
    def on_resume(job: str | None, lang_: str = "en") -> tuple[Any, ...]:
        """Start the retraining job an app restart interrupted again, from the step it was in."""
        with _in_page_language(lang_):
            found = service.studio.resume(job)
        return (job_markdown(service, found, lang_), found.job_id, gr.Timer(active=True), gr.update(visible=True),
                gr.update(visible=False))

    @guard
    def on_cancel(job: str | None, lang_: str = "en") -> str:
        """Cancel the running retraining job."""
        found = service.studio.job(job)
        if found is not None and not found.done:
            found.cancel()
        return t("Cancelling the retraining…", lang_) if found is not None else ""

    @guard
    def on_publish(job: str | None, editor_v: str, lang_: str = "en") -> tuple[Any, ...]:
        """Publish the finished job's models as a new release version (nobody gets it until a switch)."""
        if not str(editor_v or "").strip():
            raise field_error(t(EDITOR_FIELD, lang_), t("is empty", lang_),
                              t("write your name: it goes into the saved version's history", lang_), lang_)
        with _in_page_language(lang_):
            service.studio.publish_retrained(job, editor_v)
        return job_markdown(service, service.studio.job(job), lang_), gr.update(visible=False)

    for fn, name in ((on_moves, "segment_moves"), (on_save, "save_strategy"), (on_retrain, "start_retraining"),
                     (on_poll, "retraining_progress"), (on_cancel, "cancel_retraining"),
                     (on_publish, "publish_retrained"), (on_resume, "resume_retraining")):
        fn.__name__ = name
    count.click(on_moves, [dormant, reengage, lang], moves, api_name="studio_resegment", show_progress_on=[moves])
    save.click(on_save, [segment, *edits, dormant, reengage, editor, lang], [saved_text, saved_tag, retrain],
               api_name="studio_save", concurrency_id="studio_save", concurrency_limit=1,
               show_progress_on=[saved_text])
    retrain.click(on_retrain, [saved_tag, editor, lang], [job_text, job_id, timer, retrain, cancel, publish],
                  api_name="studio_retrain", show_progress_on=[job_text])
    timer.tick(on_poll, [job_id, lang], [job_text, timer, cancel, publish, resume], api_name="studio_job",
               show_progress="hidden")
    resume.click(on_resume, [job_id, lang], [job_text, job_id, timer, cancel, resume], api_name="studio_resume",
                 show_progress_on=[job_text])
    cancel.click(on_cancel, [job_id, lang], job_text, api_name="studio_cancel")
    publish.click(on_publish, [job_id, editor, lang], [job_text, publish], api_name="studio_publish",
                  concurrency_id="studio_save", concurrency_limit=1, show_progress_on=[job_text])
    return [(on_poll, [job_id, lang], [job_text, timer, cancel, publish, resume])]
