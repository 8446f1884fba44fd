"""A retraining job's record on disk, so that an app restart forgets no job.

Each job keeps ``job.json`` in its own folder (``<work_dir>/retraining/<tag>-<time>-<hex>/``), written
whole and atomically (temp file, then rename) whenever its step or state changes and when it is
published: what the page shows (tag, editor, steps, step, state, problem, times, published tag), what
publishing and resuming need (the job's inputs and commands) and which process ran it.

:func:`load_jobs` reads every job back when the studio starts. A job recorded as running is shown as
:data:`~genemail.studio.retrain.INTERRUPTED` (the app that ran it stopped, and its steps' processes
with it), unless the process that recorded it is another one still alive on this machine (a second
app on the same work folder): that job is not this app's to show. A file that cannot be read or does
not hold a job is skipped with a logged warning; it never stops the app.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from genemail.studio.retrain import CANCELLED, FAILED, FINISHED, INTERRUPTED, RUNNING, RetrainInputs, RetrainJob

JOB_FILE = "job.json"
FORMAT = 1
STATES = (RUNNING, FINISHED, FAILED, CANCELLED, INTERRUPTED)

log = logging.getLogger(__name__)


def job_record(job: RetrainJob) -> dict[str, Any]:
    """What :func:`write_job` writes for ``job`` (plain JSON types)."""
    inputs = {name: (str(value) if isinstance(value, Path) else value) for name, value in vars(job.inputs).items()}
    inputs["adapters"] = list(job.inputs.adapters)
    return {"format": FORMAT, "id": job.job_id, "tag": job.inputs.tag, "editor": job.editor, "state": job.state,
            "step": job.step, "steps": [[name, list(command)] for name, command in job.steps],
            "problem": job.problem, "started": job.started, "ended": job.ended, "published": job.published,
            "inputs": inputs, "pid": os.getpid(), "host": socket.gethostname(), "python": sys.executable,
            "updated": time.time()}


def write_job(job: RetrainJob) -> None:
    """Write ``job``'s record into its folder, atomically; a failure is logged, the job goes on."""
    path = job.inputs.folder / JOB_FILE
    tmp = path.with_name(f".{JOB_FILE}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(job_record(job), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # a reader finds the old record or the new one, never half of one
    except OSError as err:  # a full disk must not stop the training; only a restart would miss this change
        log.warning("could not record retraining job %s in %s: %s", job.job_id, path, err)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _text(record: dict[str, Any], name: str, optional: bool = False) -> Any:
    value = record.get(name)
    if not (isinstance(value, str) or (optional and value is None)):
        raise ValueError(f"{name} is {value!r}, not a text")
    return value


def _number(record: dict[str, Any], name: str, optional: bool = False) -> Any:
    value = record.get(name)
    if not ((isinstance(value, (int, float)) and not isinstance(value, bool)) or (optional and value is None)):
        raise ValueError(f"{name} is {value!r}, not a number")
    return value


def _inputs(record: Any) -> RetrainInputs:
    if not isinstance(record, dict):
        raise ValueError("inputs is not an object")
    adapters = record.get("adapters")
    if not isinstance(adapters, list) or not all(isinstance(a, str) for a in adapters):
        raise ValueError(f"inputs.adapters is {adapters!r}, not a list of segments")
    if not isinstance(record.get("segmenter"), bool):
        raise ValueError("inputs.segmenter is not true or false")
    customers = _text(record, "customers", optional=True)
    return RetrainInputs(
        tag=_text(record, "tag"), folder=Path(_text(record, "folder")), strategies=Path(_text(record, "strategies")),
        segmenter_dir=Path(_text(record, "segmenter_dir")), base_model=_text(record, "base_model"),
        base_model_id=_text(record, "base_model_id", optional=True), lang=_text(record, "lang"),
        adapters=tuple(adapters), segmenter=record["segmenter"], dormant_days=float(_number(record, "dormant_days")),
        reengage_days=float(_number(record, "reengage_days")), customers=Path(customers) if customers else None)


def _steps(record: Any, python: str | None) -> list[tuple[str, list[str]]]:
    if not isinstance(record, list):
        raise ValueError("steps is not a list")
    steps = []
    for step in record:
        if not (isinstance(step, list) and len(step) == 2 and isinstance(step[0], str) and isinstance(step[1], list)
                and step[1] and all(isinstance(arg, str) for arg in step[1])):
            raise ValueError(f"step {step!r} is not [name, [command, ...]]")
        command = list(step[1])
        if python and command[0] == python:  # a rebuilt app may run another interpreter; the old one may be gone
            command[0] = sys.executable
        steps.append((step[0], command))
    return steps


def job_from_record(record: Any) -> RetrainJob:
    """The job a record holds, as recorded (a ``ValueError`` says why it holds none)."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"not a retraining job record of format {FORMAT}")
    python = record.get("python")
    steps = _steps(record.get("steps"), python if isinstance(python, str) else None)
    state, step = record.get("state"), record.get("step")
    if state not in STATES:
        raise ValueError(f"state is {state!r}, not one of {', '.join(STATES)}")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= len(steps):
        raise ValueError(f"step is {step!r}, not a step of the job")
    return RetrainJob(job_id=_text(record, "id"), inputs=_inputs(record.get("inputs")), steps=steps,
                      editor=_text(record, "editor"), state=state, step=step,
                      problem=_text(record, "problem", optional=True), started=_number(record, "started"),
                      ended=_number(record, "ended", optional=True),
                      published=_text(record, "published", optional=True))


def _alive_elsewhere(record: dict[str, Any]) -> bool:
    """Whether the process that recorded a running job is another one, still alive on this machine."""
    pid = record.get("pid")
    if os.name != "posix" or not isinstance(pid, int) or pid <= 0 or pid == os.getpid() \
            or record.get("host") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    return True


def load_jobs(root: Path) -> list[RetrainJob]:
    """Every job recorded under ``root`` (one folder each), oldest first; running ones as interrupted."""
    jobs = []
    for path in sorted(root.glob(f"*/{JOB_FILE}")) if root.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            job = job_from_record(record)
        except Exception as err:  # noqa: BLE001 - whatever is wrong with one record, the app starts without it
            log.warning("skipped the retraining job record %s: it cannot be read (%s)", path, err)
            continue
        if job.state == RUNNING:
            if _alive_elsewhere(record):
                log.warning("skipped the retraining job %s: process %s still runs it", path.parent, record["pid"])
                continue
            job.state = INTERRUPTED
            job.problem = f"the app stopped during step {job.step_name} (process {record.get('pid')} is gone)"
            job.ended = record.get("updated") if isinstance(record.get("updated"), (int, float)) else None
        job.on_change = write_job
        jobs.append(job)
    return sorted(jobs, key=lambda j: j.started)
