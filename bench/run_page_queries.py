"""SQL statements an open Run page sends to the store while its run is live, with its reads cached and without.

A live Run page redraws every `dashboard.statuses.LIVE_S` (1 s). This script writes a running VGG38-sized run
(3 epochs recorded) into a temp SQLite store, opens dashboard/views/run.py under Streamlit's AppTest and reruns
it RERUNS times, one rerun standing for one second of an open page. Between reruns the run moves as a job moves
it: new per-step points with its progress every 2 reruns (`worker.progress.StepWriter`, every STEP_WRITE_S = 2 s)
and an epoch recorded every EPOCH_EVERY reruns. It counts the statements (SQLAlchemy's before_cursor_execute, on
every engine) sent during the reruns only, twice:

  cached    the page as it is
  uncached  st.cache_data cleared before every rerun, so that every read goes to the store: the baseline

and prints statements per rerun of each and their ratio. A rerun here is the whole page: the run list (read once
per full rerun, counted on its own), then the live fragment. A browser's live refresh reruns only the fragment:
per second, the statements per rerun less the run list's.

To count the page at an older commit, copy this file into a checkout of it and run it there.

  .venv/bin/python bench/run_page_queries.py [--reruns 60] [--epoch-every 20]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
import streamlit as st  # noqa: E402
from common import header, temp_sqlite_store  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import reads  # noqa: E402
from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.metrics import EpochMetrics, LayerGrad, StepPoint  # noqa: E402
from worker import db, store  # noqa: E402
from worker.progress import StepWriter  # noqa: E402
from worker.schema import RunStatus  # noqa: E402

PAGE = str(ROOT / "dashboard" / "views" / "run.py")
LAYERS = 38  # VGG38's weight tensors: gradient rows an epoch
STEPS_PER_EPOCH = 475  # 47,500 images in batches of 100
POINTS_EVERY = 2  # reruns between two progress writes (STEP_WRITE_S over LIVE_S)


class StatementCounter:
    """Counts the statements any engine sends while `counting` is set."""

    def __init__(self) -> None:
        self.counting, self.count = False, 0
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += self.counting

    def around(self, action) -> int:
        """The statements sent while `action()` runs."""
        before, self.counting = self.count, True
        try:
            action()
        finally:
            self.counting = False
        return self.count - before


def epoch_metrics(epoch: int) -> EpochMetrics:
    grads = [LayerGrad(i, f"layer_{i}", 1e-3 / (i + 1), 1e-3, 0.1, 1.0, 0.01) for i in range(LAYERS)]
    return EpochMetrics(epoch, 100, 4.6 - 0.01 * epoch, 0.01 * epoch, 4.6, 0.01 * epoch, 1e-3, 300.0, grads)


class LiveRun:
    """A running run, moved on as its job would: points with the progress, an epoch now and then."""

    def __init__(self, epoch_every: int) -> None:
        self.epoch_every, self.tick, self.step = epoch_every, 0, 0
        with db.session_scope() as session:
            self.run_id = store.create_run(session, RunConfig.from_preset("vgg38", epochs=100)).id
            store.set_status(session, self.run_id, RunStatus.RUNNING)
            for epoch in range(1, 4):
                store.record_epoch(session, self.run_id, epoch_metrics(epoch))
        self.epoch = 4
        self.writer = StepWriter(self.run_id, every_s=0)

    def one_second(self) -> None:
        self.tick += 1
        if self.tick % self.epoch_every == 0:
            with db.session_scope() as session:
                store.record_epoch(session, self.run_id, epoch_metrics(self.epoch))
            self.epoch, self.step = self.epoch + 1, 0
        elif self.tick % POINTS_EVERY == 0:
            first = (self.epoch - 1) * STEPS_PER_EPOCH + self.step
            self.writer.on_points([StepPoint(first + k, self.epoch, 4.0, 1e-3, 0.5 * k) for k in range(1, 11)])
            self.step += 10
            self.writer(self.step, STEPS_PER_EPOCH)


def clear_caches() -> None:
    """st.cache_data.clear(), without the warning it logs outside a Streamlit server."""
    logging.disable(logging.WARNING)
    try:
        st.cache_data.clear()
    finally:
        logging.disable(logging.NOTSET)


def measure(counter: StatementCounter, reruns: int, epoch_every: int, clear_cache: bool) -> tuple[int, int]:
    """(statements over `reruns` reruns of a live run's page, epochs recorded meanwhile)."""
    live = LiveRun(epoch_every)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["run"] = str(live.run_id)
    at.run()
    assert not at.exception, at.exception
    total, first_epoch = 0, live.epoch
    for _ in range(reruns):
        live.one_second()
        if clear_cache:
            clear_caches()
        total += counter.around(at.run)
        assert not at.exception, at.exception
    shown = at.get("vega_lite_chart")
    assert shown, "the page drew no chart"
    return total, live.epoch - first_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reruns", type=int, default=60, help="page reruns, one per second of a live page")
    parser.add_argument("--epoch-every", type=int, default=20, help="reruns between two epochs recorded")
    args = parser.parse_args()
    header("run_page_queries.py")
    counter = StatementCounter()
    with temp_sqlite_store():
        print(f"# a running VGG38-sized run ({LAYERS} gradient rows an epoch); {args.reruns} reruns (one a second); "
              f"points with the progress every {POINTS_EVERY} reruns, an epoch every {args.epoch_every}",
              flush=True)  # fmt: skip
        run_list = counter.around(reads.load_runs)
        counts = {}
        for name, clear in (("uncached", True), ("cached", False)):
            clear_caches()
            counts[name], epochs = measure(counter, args.reruns, args.epoch_every, clear)
            per_rerun = counts[name] / args.reruns
            print(f"{name:<9} {counts[name]:5d} statements in {args.reruns} reruns ({epochs} epochs recorded): "
                  f"{per_rerun:.2f} a rerun, {per_rerun - run_list:.2f} a second of the live fragment",
                  flush=True)  # fmt: skip
    print(f"run list (once per full rerun): {run_list} statement(s)")
    print(f"cached / uncached: {counts['cached'] / counts['uncached']:.2f}")


if __name__ == "__main__":
    main()
