"""Retraining jobs outlive the app: recorded in their folders, read back by a new studio after a restart."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from genemail.errors import DataError
from genemail.studio.jobfile import JOB_FILE, load_jobs, write_job
from genemail.studio.retrain import FINISHED, INTERRUPTED, RUNNING, RetrainInputs, RetrainJob
from genemail.studio.service import StudioService

ROOT = Path(__file__).resolve().parents[1]


def _inputs(work: Path, name: str = "v2-20250101-000000-abcd") -> RetrainInputs:
    return RetrainInputs(tag="v2", folder=work / "retraining" / name, strategies=work / "s.yaml",
                         segmenter_dir=work / "seg", base_model="base", base_model_id=None, lang="zh", adapters=(),
                         segmenter=True, dormant_days=75, reengage_days=45, customers=None)


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _restarted(work: Path) -> StudioService:
    """A new studio on ``work``, as the app builds after a restart (only the work folder is read at start)."""
    return StudioService(SimpleNamespace(work_dir=work, ready=False))  # type: ignore[arg-type]


def _wait(job: RetrainJob, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_finished_job_is_listed_after_a_restart_and_published_only_once(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    make = _py(f"import os; os.makedirs({str(inputs.folder / 'segmenter')!r})")
    job = RetrainJob("a1", inputs, [("segmenter", make)], editor="Mei", on_change=write_job)
    job.run()
    assert job.state == FINISHED

    found = _restarted(tmp_path).job(None)
    assert found is not None and found is not job
    assert (found.job_id, found.state, found.step, found.editor, found.published) == ("a1", FINISHED, 1, "Mei", None)
    assert found.inputs == inputs and found.steps == job.steps and found.outputs() == job.outputs()
    assert found.started == job.started and found.ended == job.ended
    # Publishing records the tag; a later restart shows it, and publishing again returns it (no second release).
    found.published = "v3"
    write_job(found)
    again = _restarted(tmp_path)
    assert again.job("a1").published == "v3"
    assert again.publish_retrained("a1", "Lin") == "v3"  # returns before any Hub call: the stub has no Hub


def _runner(inputs: RetrainInputs, steps: list[tuple[str, list[str]]]) -> str:
    """An app stand-in: a process that records and runs one job (killed by the test, as a restart kills it)."""
    return (f"from pathlib import Path\n"
            f"from genemail.studio.jobfile import write_job\n"
            f"from genemail.studio.retrain import RetrainInputs, RetrainJob\n"
            f"inputs = RetrainInputs(tag='v2', folder=Path({str(inputs.folder)!r}), strategies=Path('s'),\n"
            f"    segmenter_dir=Path('seg'), base_model='base', base_model_id=None, lang='zh', adapters=(),\n"
            f"    segmenter=True, dormant_days=75.0, reengage_days=45.0, customers=None)\n"
            f"RetrainJob('k1', inputs, {steps!r}, editor='Mei', on_change=write_job).run()\n")


def test_a_job_killed_with_the_app_is_interrupted_and_resumes_from_its_step(tmp_path: Path) -> None:
    from genemail.app_ui.studio_save import job_markdown

    inputs = _inputs(tmp_path)
    folder = inputs.folder
    marker = folder / "segmenter-started"
    # Step 1 counts its runs; step 2 hangs the first time (the app dies meanwhile) and finishes the next.
    steps = [("customers", _py(f"open({str(folder / 'runs.txt')!r}, 'a').write('run\\n')")),
             ("segmenter", _py(f"import os, time\nif os.path.exists({str(marker)!r}):\n"
                               f"    os.makedirs({str(folder / 'segmenter')!r})\n"
                               f"else:\n    open({str(marker)!r}, 'w').close(); time.sleep(120)"))]
    app = subprocess.Popen([sys.executable, "-c", _runner(inputs, steps)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                           start_new_session=True)  # its own process group: the app and its step die together
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline and app.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), "the stand-in app never reached its second step"
    assert json.loads((folder / JOB_FILE).read_text())["state"] == RUNNING
    os.killpg(app.pid, signal.SIGKILL)  # as a crash or a container restart: no chance to record anything
    app.wait(timeout=30)

    studio = _restarted(tmp_path)
    job = studio.job(None)
    assert job is not None and job.job_id == "k1"
    assert job.state == INTERRUPTED and job.done and job.step_name == "segmenter"
    assert f"process {app.pid} is gone" in (job.problem or "")
    shown = job_markdown(SimpleNamespace(ready=False), job, "en")  # type: ignore[arg-type]
    assert "was interrupted at step 2 of 2" in shown and "Start it again" in shown
    assert "重新开始它" in job_markdown(SimpleNamespace(ready=False), job, "zh")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="no finished retraining"):
        studio.publish_retrained("k1", "Mei")

    resumed = studio.resume(None)
    assert resumed is job and json.loads((folder / JOB_FILE).read_text())["state"] == RUNNING
    _wait(job)
    assert job.state == FINISHED, job.problem
    assert (folder / "runs.txt").read_text() == "run\n"  # the finished first step was not run again
    assert (folder / "segmenter").is_dir()
    assert _restarted(tmp_path).job("k1").state == FINISHED  # and the record says so
    with pytest.raises(DataError, match="no interrupted retraining"):
        studio.resume("k1")


def _record(work: Path, name: str, **changes: object) -> Path:
    inputs = _inputs(work, name)
    job = RetrainJob(name, inputs, [("segmenter", _py("pass"))], editor="Mei")
    write_job(job)
    path = inputs.folder / JOB_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return path


def test_a_running_record_is_interrupted_unless_another_live_process_runs_it(tmp_path: Path) -> None:
    dead = subprocess.run(_py("import os; print(os.getpid())"), capture_output=True, text=True).stdout.strip()
    _record(tmp_path, "dead", pid=int(dead))
    _record(tmp_path, "mine", pid=os.getpid())  # a restarted app may get its old process id (pid 1 in a container)
    _record(tmp_path, "other", pid=os.getppid())  # alive: another app on the same work folder runs it
    _record(tmp_path, "elsewhere", pid=os.getppid(), host="another-machine")  # that machine's process is not here
    found = {job.job_id: job.state for job in load_jobs(tmp_path / "retraining")}
    assert found == {"dead": INTERRUPTED, "mine": INTERRUPTED, "elsewhere": INTERRUPTED}


def test_a_corrupt_record_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = _record(tmp_path, "good", state=FINISHED, step=1)
    root = tmp_path / "retraining"
    for name, text in (("garbage", "{not json"), ("cut", good.read_text()[:40]), ("list", "[]"),
                       ("state", json.dumps({**json.loads(good.read_text()), "state": "exploded"})),
                       ("step", json.dumps({**json.loads(good.read_text()), "step": 7})),
                       ("inputs", json.dumps({**json.loads(good.read_text()), "inputs": {"tag": "v2"}}))):
        (root / name).mkdir()
        (root / name / JOB_FILE).write_text(text)
    (root / "unreadable").mkdir()
    (root / "unreadable" / JOB_FILE).mkdir()  # a folder where the file should be: reading it fails
    with caplog.at_level(logging.WARNING, logger="genemail.studio.jobfile"):
        studio = _restarted(tmp_path)
    assert [job.job_id for job in studio._jobs.values()] == ["good"]
    skipped = [r.getMessage() for r in caplog.records if "skipped the retraining job record" in r.getMessage()]
    assert len(skipped) == 7 and any("state is 'exploded'" in m for m in skipped)
    assert _restarted(tmp_path / "nothing-here").job(None) is None  # no retraining folder yet


def test_the_record_is_replaced_whole_and_a_failed_write_does_not_stop_the_job(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from genemail.studio import jobfile

    path = _record(tmp_path, "w")
    assert [p.name for p in path.parent.iterdir()] == [JOB_FILE]  # no temp file left behind

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jobfile.os, "replace", full)
    inputs = _inputs(tmp_path, "full")
    job = RetrainJob("f", inputs, [("segmenter", _py(f"import os; os.makedirs({str(inputs.folder / 'segmenter')!r})"))],
                     editor="Mei", on_change=write_job)
    with caplog.at_level(logging.WARNING, logger="genemail.studio.jobfile"):
        job.run()
    assert job.state == FINISHED and "could not record retraining job f" in caplog.text
    assert not list(inputs.folder.glob(".*.tmp"))
