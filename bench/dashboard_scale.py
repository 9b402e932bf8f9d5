"""Dashboard scale: the Compare page's server-side build for 7 runs x 100 epochs x 75 layers (target: under 1 s).

Seeds a temp SQLite database of that size through worker.store (create_run + record_epoch with synthetic
`EpochMetrics`, VGG38 BN+RC's 75 real layer labels), then times, on a cold cache, what the Compare page does
before Streamlit draws: its store reads (`dashboard.reads.fetch_compare`: every epoch, gradients at the <= 50
epochs the charts show, first/last-layer values), its chart builders (`dashboard.charts.compare_charts`: loss,
accuracy, gradient flow, ratio, a flow chart and a heatmap per run) and `chart.to_dict()` of each chart. Also
the warm rerun a live page makes (data cached, charts rebuilt). Baselines, timed the same way in the same run:

  naive    every gradient row of the 7 runs, every column, read run by run, into one unsampled gradient-flow
           chart, plus the loss and accuracy charts (Altair's 5,000-row limit lifted for it)
  per-run  the page's own charts, but its reads done one run at a time, every column, every epoch

  .venv/bin/python bench/dashboard_scale.py                      # 7 x 100 x 75, best of 5
  .venv/bin/python bench/dashboard_scale.py --runs 3 --epochs 20 --repeats 3

Figures: docs/benchmarks.md ("Dashboard at scale").
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
import altair as alt
import pandas as pd
import torch
from common import header

from dashboard import charts
from dashboard.reads import fetch_compare
from vgp_models.config import RunConfig
from vgp_models.gradstats import weight_labels
from vgp_models.metrics import EpochMetrics, LayerGrad
from vgp_models.vgg import VGG
from worker import db, frames, store


def seed(url: str, runs: int, epochs: int) -> list[int]:
    """`runs` VGG38 BN+RC runs (75 weights each) of `epochs` epochs with smooth synthetic numbers."""
    config = RunConfig.from_preset("vgg38-bn-rc", epochs=epochs)
    with torch.device("meta"):  # the real labels, without allocating weights
        labels = weight_labels(VGG(config))
    ids = []
    for r in range(runs):
        with db.session_scope(url) as s:
            seeded = RunConfig.from_preset("vgg38-bn-rc", epochs=epochs, seed=r)
            run = store.create_run(s, seeded, store.RunMeta(name=f"scale-{r}"))
            ids.append(run.id)
        for e in range(1, epochs + 1):
            decay = math.exp(-e / 30)
            grads = [
                LayerGrad(i, label, 1e-3 * decay * (1 + i / len(labels)) * (1 + 0.1 * r), 1e-3 * decay, 0.05 * (i + 1))
                for i, label in enumerate(labels)
            ]
            metrics = EpochMetrics(
                epoch=e, epochs=epochs, train_loss=4.6 * decay + 1, train_acc=0.7 * (1 - decay),
                val_loss=4.6 * decay + 1.5, val_acc=0.55 * (1 - decay), lr=1e-3, seconds=30.0, grads=grads,
            )  # fmt: skip
            with db.session_scope(url) as s:  # one transaction per epoch, like the job
                store.record_epoch(s, ids[-1], metrics)
        with db.session_scope(url) as s:
            store.set_status(s, ids[-1], "completed", params=338_500, device="cpu")
    return ids


def page_charts(
    epochs: pd.DataFrame, grads: pd.DataFrame, ends: pd.DataFrame, names: dict, per_run_flow: bool = False
) -> int:
    """The page's chart builders and to_dict() of each chart; returns the rows drawn."""
    rows = 0
    for chart in charts.compare_charts(epochs, grads, ends, names, per_run_flow=per_run_flow).values():
        spec = chart.to_dict()
        rows += sum(len(v) for v in spec.get("datasets", {}).values())
    return rows


def streamlit_marshal(epochs: pd.DataFrame, grads: pd.DataFrame, ends: pd.DataFrame, names: dict) -> int:
    """The same charts as st.altair_chart turns them into a spec (data as Arrow, not inline JSON); private API."""
    from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

    for chart in charts.compare_charts(epochs, grads, ends, names).values():
        _convert_altair_to_vega_lite_spec(chart)
    return 0


def titles(s, ids: list[int]) -> dict[int, str]:
    """The runs' legend names, as the Compare page takes them (the runs frame's `title`)."""
    runs = frames.runs_frame(s, ids)
    return dict(zip(runs["id"].astype(int), runs["title"]))


def ours(url: str, ids: list[int], per_run_flow: bool = False) -> int:
    with db.session_scope(url) as s:
        names = titles(s, ids)
        epochs, grads, ends = fetch_compare(s, ids)
    return page_charts(epochs, grads, ends, names, per_run_flow)


def per_run(url: str, ids: list[int]) -> int:
    """The same charts, with the reads done run by run and unselective (every column, every epoch)."""
    with db.session_scope(url) as s:
        names = titles(s, ids)
        epochs = pd.concat([frames.epochs_frame(s, [i]) for i in ids], ignore_index=True)
        grads = pd.concat([frames.gradients_frame(s, [i]) for i in ids], ignore_index=True)
        ends = pd.concat([frames.gradient_ends_frame(s, [i]) for i in ids], ignore_index=True)
    return page_charts(epochs, grads, ends, names)


def naive(url: str, ids: list[int]) -> int:
    """Everything read run by run and drawn unsampled in one gradient-flow chart."""
    with db.session_scope(url) as s:
        names = titles(s, ids)
        epochs = pd.concat([frames.epochs_frame(s, [i]) for i in ids], ignore_index=True)
        grads = pd.concat([frames.gradients_frame(s, [i]) for i in ids], ignore_index=True)
    epochs["run"], grads["run"] = epochs["run_id"].map(names), grads["run_id"].map(names)
    flow = charts.gradient_flow_chart(grads, max_lines=10**6)  # every epoch of every run
    built = [charts.loss_chart(epochs), charts.accuracy_chart(epochs), flow]
    with alt.data_transformers.disable_max_rows():
        return sum(sum(len(v) for v in c.to_dict().get("datasets", {}).values()) for c in built)


def best_of(fn: Callable[[], int], repeats: int) -> tuple[float, float, int]:
    """(best, median) seconds over `repeats` calls after one warm-up, and fn's return value."""
    rows = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime": st.cache_data is not used here anyway
    header("dashboard_scale.py")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scale.db'}"
        db.upgrade_database(url)
        t0 = time.perf_counter()
        ids = seed(url, args.runs, args.epochs)
        with db.session_scope(url) as s:
            n = len(frames.gradients_frame(s, ids, columns=("run_id",)))
        took = time.perf_counter() - t0
        print(f"seeded {args.runs} runs x {args.epochs} epochs: {n:,} gradient rows in {took:.1f} s")

        with db.session_scope(url) as s:
            names = titles(s, ids)
            cached = fetch_compare(s, ids)
        results = {
            "ours, cold (reads + charts + to_dict)": best_of(lambda: ours(url, ids), args.repeats),
            "ours, cold, 'All epochs' flow per run": best_of(lambda: ours(url, ids, True), args.repeats),
            "ours, warm rerun (charts + to_dict)": best_of(lambda: page_charts(*cached, names), args.repeats),
            "ours, warm, Streamlit's marshalling": best_of(lambda: streamlit_marshal(*cached, names), args.repeats),
            "per-run reads, same charts": best_of(lambda: per_run(url, ids), args.repeats),
            "naive: all rows, one unsampled chart": best_of(lambda: naive(url, ids), args.repeats),
        }
        db.dispose_engines()
    print(f"{'build':<40} {'best s':>8} {'median s':>9} {'rows drawn':>11}")
    for what, (best, med, rows) in results.items():
        print(f"{what:<40} {best:8.3f} {med:9.3f} {rows:11,}")
    cold = results["ours, cold (reads + charts + to_dict)"][0]
    for what in ("per-run reads, same charts", "naive: all rows, one unsampled chart"):
        print(f"{what} / ours cold: {results[what][0] / cold:.2f}x")
    worst = max(cold, results["ours, cold, 'All epochs' flow per run"][0])
    print(f"target: ours cold under 1 s: {'met' if worst < 1.0 else 'MISSED'} (worst mode {worst:.3f} s)")


if __name__ == "__main__":
    main()
