"""Retraining after a studio save, as a background job of the project's own training commands.

A job retrains what a save made stale, into a new folder, from the saved release revision: the
segmenter on the new thresholds (``training.train_segmenter``) and the adapters of the segments whose
voice changed, on a corpus written with the saved strategies (``training.build_corpus``, then
``training.train_adapters --segments ...``). Each step is a subprocess, run one after the other by a
thread, so the app keeps serving (and its release stays as it is) while it runs; a job can be
cancelled between or during steps. Publishing its output as a release is a separate, explicit step.

A job tells its ``on_change`` hook whenever its step or state changes; the studio writes it to the
job's folder then (:mod:`genemail.studio.jobfile`), so a restart of the app finds it again. A job the
restart cut off is :data:`INTERRUPTED` and :meth:`RetrainJob.resume` runs it again from the step it
was in: every step is a command that writes its whole output into the job's folder, overwriting what
an earlier, cut-off run of it left there, so running a step twice gives what running it once gives.

Presets size the job: ``full`` as ``make train`` trains, ``micro`` for tests (seconds, not minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genemail.errors import config_error

RUNNING, FINISHED, FAILED, CANCELLED = "running", "finished", "failed", "cancelled"
INTERRUPTED = "interrupted"  # it was running when the app stopped: its process is gone


@dataclass(frozen=True)
class RetrainPreset:
    """How much data and training a retraining job uses (validated)."""

    name: str
    n_customers: int  # synthetic training customers when the app has no customer file
    min_train: int  # corpus customers per segment and split (synthesized up to these)
    min_validation: int
    emails_per_customer: int
    neutral_sentences: int
    phrase_mixes: int
    max_steps: int | None  # optimizer steps per adapter; None: the training's own epochs
    min_train_records: int

    def __post_init__(self) -> None:
        for name in ("n_customers", "min_train", "emails_per_customer", "min_train_records"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise config_error(name, value, "a positive whole number")
        if self.n_customers < 200:
            raise config_error("n_customers", self.n_customers, "at least 200 (the segmenter's minimum)")


PRESETS: dict[str, RetrainPreset] = {
    # As `make train` builds the corpus and adapters (training.pipeline).
    "full": RetrainPreset("full", n_customers=2000, min_train=200, min_validation=60, emails_per_customer=2,
                          neutral_sentences=1000, phrase_mixes=1500, max_steps=None, min_train_records=20),
    # Tests: a few steps on a few customers, so a job finishes in seconds on the micro model.
    "micro": RetrainPreset("micro", n_customers=300, min_train=8, min_validation=4, emails_per_customer=1,
                           neutral_sentences=10, phrase_mixes=10, max_steps=2, min_train_records=1),
}


def preset(name: str) -> RetrainPreset:
    """The preset called ``name``; a config error lists the known ones."""
    if name not in PRESETS:
        raise config_error("retrain_preset", name, f"one of {sorted(PRESETS)} (GENEMAIL_RETRAIN_PRESET)")
    return PRESETS[name]


@dataclass(frozen=True)
class RetrainInputs:
    """What a job trains from: the saved revision's files on disk and what to retrain."""

    tag: str
    folder: Path
    strategies: Path
    segmenter_dir: Path
    base_model: str
    base_model_id: str | None
    lang: str
    adapters: tuple[str, ...]
    segmenter: bool
    dormant_days: float
    reengage_days: float
    customers: Path | None  # None: synthetic customers


def _python(module: str, *args: object) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def plan_steps(inputs: RetrainInputs, config: RetrainPreset) -> list[tuple[str, list[str]]]:
    """The job's (step name, command) list, in order."""
    out = inputs.folder
    customers = inputs.customers or out / "customers.csv"
    steps: list[tuple[str, list[str]]] = []
    if inputs.customers is None:
        steps.append(("customers", _python("genemail", "data", "synth", "--n", config.n_customers, "--seed", 0,
                                           "--out", customers)))
    segmenter = inputs.segmenter_dir
    if inputs.segmenter:
        segmenter = out / "segmenter"
        steps.append(("segmenter", _python("training.train_segmenter", "--data", customers, "--out", segmenter,
                                           "--seed", 0, "--dormant-days", inputs.dormant_days,
                                           "--reengage-days", inputs.reengage_days)))
    if inputs.adapters:
        steps.append(("corpus", _python(
            "training.build_corpus", "--customers", customers, "--segmenter", segmenter, "--out", out / "corpus",
            "--lang", inputs.lang, "--seed", 0, "--strategies", inputs.strategies,
            "--emails-per-customer", config.emails_per_customer, "--min-train", config.min_train,
            "--min-validation", config.min_validation, "--neutral-sentences", config.neutral_sentences,
            "--phrase-mixes", config.phrase_mixes)))
        train = _python("training.train_adapters", "--base-model", inputs.base_model, "--corpus", out / "corpus",
                        "--out", out / "adapters", "--strategies", inputs.strategies, "--seed", 0, "--no-progress",
                        "--min-train-records", config.min_train_records, "--workers", 1)
        train += [arg for segment in inputs.adapters for arg in ("--segments", segment)]
        if inputs.base_model_id:
            train += ["--base-model-id", inputs.base_model_id]
        if config.max_steps is not None:
            train += ["--max-steps", str(config.max_steps)]
        steps.append(("adapters", train))
    return steps


@dataclass
class RetrainJob:
    """One retraining job: its steps, where it is, and how it ended (read by the page while it runs)."""

    job_id: str
    inputs: RetrainInputs
    steps: list[tuple[str, list[str]]]
    editor: str
    state: str = RUNNING
    step: int = 0  # index of the step running (== len(steps) when all are done)
    problem: str | None = None  # what went wrong, for a failed job
    started: float = field(default_factory=time.time)
    ended: float | None = None
    published: str | None = None  # the release tag its output was published as
    on_change: Callable[[RetrainJob], Any] | None = field(default=None, repr=False)  # step or state changed
    _process: subprocess.Popen | None = field(default=None, repr=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def done(self) -> bool:
        return self.state != RUNNING

    @property
    def step_name(self) -> str | None:
        return self.steps[self.step][0] if self.step < len(self.steps) else None

    def cancel(self) -> None:
        """Stop the job: the step running is terminated, no later step starts."""
        self._cancel.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()

    def outputs(self) -> dict[str, Path]:
        """What the job trained, by artifact name (``segmenter``, ``adapter:<segment>``)."""
        out: dict[str, Path] = {}
        if self.inputs.segmenter:
            out["segmenter"] = self.inputs.folder / "segmenter"
        out.update({f"adapter:{s}": self.inputs.folder / "adapters" / s for s in self.inputs.adapters})
        return out

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def run(self, env: dict[str, str] | None = None) -> None:
        """Run the steps from :attr:`step` on (blocking); sets :attr:`state` and :attr:`problem`."""
        logs = self.inputs.folder / "logs"
        try:
            logs.mkdir(parents=True, exist_ok=True)
            for index in range(self.step, len(self.steps)):
                name, command = self.steps[index]
                self.step = index
                if self._cancel.is_set():
                    break
                self._changed()
                with open(logs / f"{index + 1}-{name}.log", "w", encoding="utf-8") as log:
                    with self._lock:
                        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                         stdin=subprocess.DEVNULL, env=env)
                    code = self._process.wait()
                if self._cancel.is_set():
                    break
                if code != 0:
                    self.problem = f"step {name} stopped with exit code {code}"
                    self.state = FAILED
                    return
            if self._cancel.is_set():
                self.state = CANCELLED
                return
            self.step = len(self.steps)
            missing = [name for name, path in self.outputs().items() if not path.is_dir()]
            if missing:  # e.g. a segment with too few customers to train on
                self.problem = f"nothing was trained for {', '.join(missing)}"
                self.state = FAILED
                return
            self.state = FINISHED
        except Exception as err:  # noqa: BLE001 - the page reports any failure; the log has the rest
            self.problem = f"{type(err).__name__}: {err}"
            self.state = FAILED
        finally:
            self.ended = time.time()
            with self._lock:
                self._process = None
            self._changed()

    def start(self, on_done: Callable[[RetrainJob], Any] | None = None) -> RetrainJob:
        """Run the job in a daemon thread (the app keeps serving); return it."""
        env = dict(os.environ)
        # The training commands are the project's own modules: importable from where this package is.
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env.setdefault("OMP_NUM_THREADS", "1")

        def work() -> None:
            self.run(env)
            if on_done is not None:
                on_done(self)

        threading.Thread(target=work, name=f"retrain-{self.job_id}", daemon=True).start()
        return self

    def resume(self, on_done: Callable[[RetrainJob], Any] | None = None) -> RetrainJob:
        """Run an interrupted job again in the background, from the step it was in; return it."""
        if self.state != INTERRUPTED:
            raise ValueError(f"job {self.job_id} is {self.state}, not {INTERRUPTED}")
        self.state, self.problem, self.ended, self.started = RUNNING, None, None, time.time()
        self._cancel.clear()
        self._changed()  # recorded as running before the thread starts: a restart meanwhile finds it
        return self.start(on_done)
