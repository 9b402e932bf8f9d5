"""The depth sweep at initialisation: vgp_models.sweep on tiny depths, its skip notes, `python -m vgp_models sweep`,
and the Depth sweep page (the queued job: test_sweep_job.py; its store: test_worker_sweeps.py)."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dashboard import charts
from tests.dashboard_support import APP, open_page
from vgp_models import sweep as sweep_module
from vgp_models.config import ConfigError
from vgp_models.data import load_cifar100
from vgp_models.gradstats import GradientStats
from vgp_models.sweep import SweepPoint, cure_config, run_sweep
from vgp_models.sweep_config import SweepConfig
from vgp_models.train import build_model, model_input
from worker import db, frames, queue, sweeps
from worker.schema import RunStatus

REPO = Path(__file__).resolve().parents[1]
TINY = SweepConfig(depths=(8, 14), cures=("none", "BN+RC"), seeds=2, batches=1, batch_size=8)


def test_sweep_config_validates_in_one_line():
    assert SweepConfig(depths=(14, 8, 14)).depths == (8, 14)
    assert SweepConfig.from_dict(TINY.to_dict()) == TINY
    for bad, message in [(dict(depths=(9,)), "depth must be 8 + 6N"), (dict(cures=("nope",)), "cures must be"),
                         (dict(seeds=0), "seeds must be"), (dict(depths=()), "at least one depth"),
                         (dict(batch_size=True), "batch_size must be")]:  # fmt: skip
        with pytest.raises(ConfigError, match=re.escape(message)):
            SweepConfig(**bad)
    with pytest.raises(ConfigError, match="unknown sweep field"):
        SweepConfig.from_dict({"depth": 8})


def test_tiny_sweep_measures_every_cure_depth_and_seed(cifar_dir):
    data = load_cifar100(cifar_dir, subset=TINY.images)
    seen = []
    cells = run_sweep(TINY, data, on_cell=lambda cell, done, total: seen.append((cell.cure, cell.depth, done, total)))
    assert seen == [("none", 8, 1, 4), ("none", 14, 2, 4), ("BN+RC", 8, 3, 4), ("BN+RC", 14, 4, 4)]
    points = [p for c in cells for p in c.points]
    assert [(p.cure, p.depth, p.seed) for p in points][:4] == [("none", 8, 0), ("none", 8, 1), ("none", 14, 0),
                                                              ("none", 14, 1)]  # fmt: skip
    assert all(p.first > 0 and p.last > 0 and p.ratio == p.first / p.last and not p.note for p in points)
    assert points[0].first != points[1].first  # seeds differ in their init

    # The number is the first and last weight's mean |grad| of that net on that batch, recomputed here by hand,
    # and the forward signal the across-batch std of its last conv's output.
    config = cure_config("none", 14, TINY, seed=1)
    model = build_model(config)
    stats = GradientStats(model)
    images, labels = data.train.images[:8], data.train.labels[:8]
    outputs = []
    model.reduction_block_2.conv_1.register_forward_hook(lambda m, args, out: outputs.append(out.detach()))
    torch.nn.functional.cross_entropy(model(model_input(images, config)), labels).backward()
    stats.update()
    grads = stats.read()["abs_mean_last"]
    assert (points[3].first, points[3].last) == pytest.approx((grads[0], grads[-1]), rel=1e-6)
    (last_conv,) = outputs
    assert points[3].last_signal_std == pytest.approx(last_conv.var(dim=0, correction=0).mean().sqrt().item(), rel=1e-5)
    assert all(p.last_signal_std > 0 for p in points)


def test_a_cure_that_cannot_apply_at_a_depth_is_skipped_with_a_note(cifar_dir, monkeypatch):
    cures = {"none": {}, "fixed": {"depth": 14, "batch_norm": True}, "bad": {"shortcut": "avgpool"}}
    monkeypatch.setattr(sweep_module, "CURES", cures)
    monkeypatch.setattr("vgp_models.sweep_config.CURES", cures)
    config = SweepConfig(depths=(8, 14), cures=("fixed", "bad"), seeds=1, batches=1, batch_size=4)
    cells = run_sweep(config, load_cifar100(cifar_dir, subset=4))
    notes = {(c.cure, c.depth): [p.note for p in c.points] for c in cells}
    assert notes[("fixed", 8)] == ["fixed sets its own depth (14); measured at that depth only"]
    assert notes[("fixed", 14)] == [""]
    assert notes[("bad", 8)][0].startswith("bad does not apply at depth 8: a reduction-block shortcut needs")
    assert all(p.ratio is None for c in cells if c.cure == "bad" for p in c.points)


def test_depth_that_does_not_change_the_network_is_measured_once(cifar_dir, monkeypatch):
    monkeypatch.setattr(sweep_module, "weight_count", lambda config: 7)  # a family whose size ignores depth
    config = SweepConfig(depths=(8, 14, 20), cures=("RC",), seeds=1, batches=1, batch_size=4)
    cells = run_sweep(config, load_cifar100(cifar_dir, subset=4))
    assert [p.ratio is not None for c in cells for p in c.points] == [True, False, False]
    assert cells[1].points[0].note == ("depth does not change RC's network (7 weight tensors, as at depth 8); "
                                       "measured once, at depth 8")  # fmt: skip


def test_cli_sweep_prints_a_table_and_writes_every_point(cifar_dir, tmp_path):
    out = tmp_path / "sweep.csv"
    done = subprocess.run(
        [sys.executable, "-m", "vgp_models", "sweep", "--depths", "8", "14", "--cures", "none", "RC", "--seeds", "1",
         "--batches", "1", "--batch-size", "4", "--data", str(cifar_dir), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["cure", "8", "14"] and lines[2].split()[0] == "none" and len(lines[2].split()) == 3
    assert "across-batch std of the last conv's output at initialisation, mean over seeds" in lines
    rows = list(csv.DictReader(out.open()))
    assert [(r["cure"], r["depth"]) for r in rows] == [("none", "8"), ("none", "14"), ("RC", "8"), ("RC", "14")]
    assert all(float(r["last_signal_std"]) > 0 for r in rows)
    assert float(rows[0]["ratio"]) == pytest.approx(float(rows[0]["first"]) / float(rows[0]["last"]))
    bad = subprocess.run([sys.executable, "-m", "vgp_models", "sweep", "--depths", "9", "--data", str(cifar_dir)],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: depth must be 8 + 6N (8, 14, 20, 26, 32, 38, ..., 68, 74), got 9"
    ]


# ---- the page ------------------------------------------------------------------------------------


def stored_sweep(config: SweepConfig, status: RunStatus = RunStatus.COMPLETED, signal: bool = False) -> int:
    """A sweep written straight into the store with known ratios: 10^-depth/8 for 'none', 1 for the rest; with
    `signal`, a last-conv std of 1/depth for 'none' and 0.5 for the rest (without, as before it was measured)."""
    with db.session_scope() as s:
        sweep_id = sweeps.create_sweep(s, config).id
        sweeps.transition_sweep(s, sweep_id, (RunStatus.QUEUED,), RunStatus.RUNNING)
        for done, (cure, depth) in enumerate(config.cells(), start=1):
            std = (1 / depth if cure == "none" else 0.5) if signal else None
            points = [SweepPoint(cure, depth, seed, (10.0 ** (-depth / 8) if cure == "none" else 1.0) * (1 + seed), 1.0,
                                 last_signal_std=std) for seed in range(config.seeds)]  # fmt: skip
            sweeps.record_cell(s, sweep_id, points, done)
        sweeps.transition_sweep(s, sweep_id, (RunStatus.RUNNING,), status)
    return sweep_id


def test_sweep_page_queues_a_sweep(redis_env):
    at = open_page("views/sweep.py")
    assert "No sweep yet" in at.info[0].value
    at.multiselect(key="sweep_depths").set_value([8, 14])
    at.multiselect(key="sweep_cures").set_value(["none", "BN"])
    at.number_input(key="sweep_seeds").set_value(2)
    at.run().button(key="sweep_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith("Queued sweep #") and queue.get_queue().count == 1
    with db.session_scope() as s:
        (row,) = frames.sweeps_frame(s).to_dict("records")
    assert SweepConfig.from_dict(row["config"]) == SweepConfig((8, 14), ("none", "BN"), 2)
    at.multiselect(key="sweep_depths").set_value([]).run()
    assert "at least one depth" in at.error[0].value and at.button(key="sweep_submit").disabled


def test_sweep_page_plots_ratio_against_depth_with_seed_bands(env):
    sweep_id = stored_sweep(SweepConfig(depths=(8, 14, 20), cures=("none", "BN+RC"), seeds=2))
    at = open_page("views/sweep.py")
    assert not at.exception
    (chart,) = at.get("vega_lite_chart")
    assert "min..max over seeds" in chart.proto.spec and '"type":"log"' in chart.proto.spec.replace(" ", "")
    assert "Sweep CSV" in [d.proto.label for d in at.get("download_button")]
    with db.session_scope() as s:
        points = frames.sweep_points_frame(s, sweep_id)
    data = charts.sweep_chart(points).to_dict()["datasets"]
    values = next(v for v in data.values() if "series" in v[0])  # the other dataset: the 1e-3 line's one datum
    none8 = next(v for v in values if v["series"] == "none" and v["depth"] == 8)
    assert (none8["mean"], none8["lo"], none8["hi"], none8["n"]) == pytest.approx((0.15, 0.1, 0.2, 2))


def test_sweep_page_shows_the_forward_signal_beside_the_ratio(env):
    sweep_id = stored_sweep(SweepConfig(depths=(8, 14), cures=("none", "BN+RC"), seeds=2), signal=True)
    at = open_page("views/sweep.py")
    assert not at.exception
    ratio, signal = at.get("vega_lite_chart")
    assert "Gradient ratio at initialisation" in ratio.proto.spec
    assert "Forward signal at initialisation" in signal.proto.spec
    with db.session_scope() as s:
        points = frames.sweep_points_frame(s, sweep_id)
    assert points["last_signal_std"].tolist() == pytest.approx([1 / 8, 1 / 8, 1 / 14, 1 / 14, 0.5, 0.5, 0.5, 0.5])
    (values,) = charts.sweep_chart(points, value="last_signal_std").to_dict()["datasets"].values()
    none14 = next(v for v in values if v["series"] == "none" and v["depth"] == 14)
    assert (none14["mean"], none14["n"]) == pytest.approx((1 / 14, 2))


def test_sweep_page_never_imports_torch_and_says_when_unmigrated(tmp_path, monkeypatch):
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=60).run()
at.switch_page("views/sweep.py").run()
assert not at.exception, at.exception
print([e.value for e in at.error])
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")))
"""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=REPO,
                          env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    errors, modules = done.stdout.strip().splitlines()[-2:]
    assert modules == "[]"
    assert "Cannot read the sweeps" in errors and "python -m worker migrate" in errors
