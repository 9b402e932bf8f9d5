"""The Loss landscape page: queueing one (and refusing bad settings), a stored 2D landscape as filled iso-loss bands
and a 1D one as curves, several side by side on one colour scale, progress with ETA; the chart builders."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pandas as pd
import pytest

from dashboard import charts, landscapes
from tests.dashboard_support import APP, ROOT, add_run, open_page
from vgp_models.landscape import LandscapePoint
from vgp_models.landscape_config import LandscapeConfig
from worker import db, frames, queue
from worker import landscapes as store
from worker.schema import RunStatus

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py


def stored_landscape(config: LandscapeConfig, scale: float = 1.0, status: RunStatus = RunStatus.COMPLETED,
                     upto: int | None = None) -> int:  # fmt: skip
    """A landscape written straight into the store: loss = scale x (1 + alpha^2 + 2 beta^2), acc = 1 / loss."""
    grid = config.grid()[:upto]
    with db.session_scope() as s:
        landscape_id = store.create_landscape(s, config).id
        store.transition_landscape(s, landscape_id, (RunStatus.QUEUED,), RunStatus.RUNNING)
        for done, (i, j, a, b) in enumerate(grid, start=1):
            loss = scale * (1 + a * a + 2 * (b or 0) ** 2)
            store.record_points(s, landscape_id, [LandscapePoint(i, j, a, b, loss, 1 / loss)], done)
        if status is not RunStatus.RUNNING:
            store.transition_landscape(s, landscape_id, (RunStatus.RUNNING,), status)
    return landscape_id


def test_page_queues_a_landscape_and_refuses_bad_settings(redis_env):
    at = open_page("views/landscape.py")
    assert "No landscape yet" in at.info[0].value
    at.segmented_control(key="landscape_source").set_value("fresh").run()
    at.selectbox(key="landscape_preset").set_value("vgg08")
    at.number_input(key="landscape_points_2").set_value(3)
    at.number_input(key="landscape_images").set_value(8)
    at.run().button(key="landscape_submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success[0].value == "Queued landscape #1: 9 points." and queue.get_queue().count == 1
    with db.session_scope() as s:
        (row,) = frames.landscapes_frame(s).to_dict("records")
    assert LandscapeConfig.from_dict(row["config"]) == LandscapeConfig(preset="vgg08", points=3, images=8)
    at.number_input(key="landscape_points_2").set_value(4).run()
    assert "points must be odd" in at.error[0].value and at.button(key="landscape_submit").disabled

    run_id = add_run("vgg08")  # a run without a kept checkpoint: refused in one line, nothing queued
    at = open_page("views/landscape.py")
    assert at.selectbox(key="landscape_run").value == run_id
    at.button(key="landscape_submit").click().run()
    assert f"run {run_id} keeps no best checkpoint" in at.error[0].value and queue.get_queue().count == 1


def test_page_draws_contours_on_one_scale_and_curves(env):
    first = stored_landscape(LandscapeConfig(preset="vgg38", points=5))
    second = stored_landscape(LandscapeConfig(preset="vgg38-bn-rc", points=5), scale=10.0)
    stored_landscape(LandscapeConfig(preset="vgg38", dims=1, points=7))
    at = open_page("views/landscape.py")
    assert not at.exception
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert len(specs) == 3  # the chosen (newest, 1D) landscape's curves; compared: two 2D side by side, one 1D
    assert '"hconcat"' in specs[0] and '"concat"' in specs[1] and specs[1].count('"threshold"') == 2
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Landscape CSV" in labels and "Compared landscapes CSV" in labels
    at.selectbox(key="landscape_chosen").set_value(first).run()
    assert not at.exception and '"threshold"' in at.get("vega_lite_chart")[0].proto.spec

    with db.session_scope() as s:
        points = frames.landscape_points_frame(s, [first, second])
    named = landscapes.named_points(points, {first: "VGG38", second: "VGG38 BN+RC"})
    spec = charts.contours_side_by_side(named).to_dict()
    levels = charts.loss_levels(named["loss"])
    assert levels[0] == pytest.approx(1.0) and levels[-1] == pytest.approx(40.0)  # 1 at VGG38's centre, 10 x 4
    domains = [c["layer"][0]["encoding"]["color"]["scale"]["domain"] for c in spec["concat"]]
    assert domains[0] == domains[1] == pytest.approx(levels[1:-1])  # one colour scale for both


def test_progress_says_points_and_eta(env):
    landscape_id = stored_landscape(LandscapeConfig(preset="vgg08", points=3), status=RunStatus.RUNNING, upto=3)
    with db.session_scope() as s:
        row = frames.landscapes_frame(s).set_index("id").loc[landscape_id].to_dict()
    row["heartbeat_at"] = row["started_at"] + timedelta(seconds=30)  # 10 s a point, 6 to go
    assert landscapes.progress(row) == (pytest.approx(3 / 9), "3 of 9 points · ETA 1 min 00 s")
    assert landscapes.progress({**row, "points_done": 0})[1] == "0 of 9 points · ETA after the first point"
    assert landscapes.progress({**row, "status": "queued"})[1] == "3 of 9 points · waiting for a worker"


def test_contour_chart_bands_are_log_spaced_and_cells_tile_the_grid():
    frame = pd.DataFrame({"alpha": [-1.0, -1.0, 1.0, 1.0], "beta": [-1.0, 1.0, -1.0, 1.0],
                          "loss": [1.0, 10.0, 100.0, 0.0], "acc": [0.5] * 4, "series": ["x"] * 4})  # fmt: skip
    levels = charts.loss_levels(frame["loss"], levels=4)
    assert levels == pytest.approx([1e-6, 1e-4, 1e-2, 1.0, 100.0])  # a zero loss sits on the log floor
    (values,) = [v for v in charts.contour_chart(frame, levels).to_dict()["datasets"].values() if "a0" in v[0]]
    assert [(v["a0"], v["a1"], v["b0"], v["b1"]) for v in values][0] == (-2.0, 0.0, -2.0, 0.0)
    assert charts.loss_levels(pd.Series([3.0, 3.0]))[0] < 3.0 < charts.loss_levels(pd.Series([3.0, 3.0]))[-1]


def test_landscape_page_never_imports_torch(tmp_path):
    script = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=60).run()
at.switch_page("views/landscape.py").run()
assert not at.exception, at.exception
print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")))
"""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
