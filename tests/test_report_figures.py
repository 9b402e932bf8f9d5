"""The report style of the gradient-flow chart (linear axis, every epoch, zeros at 0, the report's last label),
and scripts/results_figures.py drawing Figures 2, 3 and 5 from headless run folders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dashboard import charts
from vgp_models.config import TABLE1, RunConfig
from vgp_models.run_folder import train_into
from vgp_models.table1 import row_folder_name

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["input_conv_conv_0", "block_0_0_conv_0", "logit_linear_layer"]


def flow(epochs: int) -> pd.DataFrame:
    return pd.DataFrame(
        [dict(run_id=1, epoch=e, layer_index=i, layer=layer, abs_mean_last=0.0 if i == 0 else 1e-3 * e,
              abs_mean_epoch=0.0, l2=0.0) for e in range(1, epochs + 1) for i, layer in enumerate(LAYERS)]
    )  # fmt: skip


def spec_data(spec: dict) -> pd.DataFrame:
    return pd.DataFrame(spec["data"]["values"])


def test_report_style_draws_every_epoch_and_zeros_on_a_linear_axis() -> None:
    grads = flow(epochs=charts.MAX_GRAD_LINES + 9)
    report = charts.chart_spec(charts.gradient_flow_chart(grads, report_style=True))
    data = spec_data(report)
    assert report["encoding"]["y"]["scale"]["type"] == "linear"
    assert sorted(data["epoch"].unique()) == list(range(1, charts.MAX_GRAD_LINES + 10))  # none thinned out
    assert len(data) == len(grads) and (data.loc[data["layer_index"] == 0, "abs_mean_last"] == 0).all()
    order = ["input_conv_conv_0", "block_0_0_conv_0", "weight_logit_linear_layer"]
    assert report["encoding"]["x"]["sort"] == order and data["layer"].iloc[-1] == order[-1]

    default = charts.chart_spec(charts.gradient_flow_chart(grads))  # the dashboard's own view is unchanged
    assert default["encoding"]["y"]["scale"]["type"] == "log" and default["encoding"]["x"]["sort"] == LAYERS
    assert spec_data(default)["epoch"].nunique() == charts.MAX_GRAD_LINES
    assert (spec_data(default)["abs_mean_last"] > 0).all()


@pytest.fixture(scope="module")
def table1_folders(cifar_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three rows the figures need, trained headless for two epochs (width 8) under table1's names."""
    root = tmp_path_factory.mktemp("table1")
    for row in (TABLE1[0], TABLE1[1], TABLE1[6]):
        config = RunConfig.from_preset(row.preset, lr=row.lr, width=8, epochs=2, batch_size=32, subset=64,
                                       device="cpu")  # fmt: skip
        assert train_into(root / row_folder_name(row), config, cifar_dir, resume=False).status == "completed"
    return root


def test_results_figures_script_writes_three_pngs(table1_folders: Path, tmp_path: Path) -> None:
    out = tmp_path / "figures"
    done = subprocess.run([sys.executable, "scripts/results_figures.py", str(table1_folders), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = ["figure2-vgg08.png", "figure3-vgg38.png", "figure5-vgg38-bn-rc.png"]
    assert done.stdout.split() == [str(out / n) for n in names]
    for name in names:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_results_figures_script_refuses_a_broken_folder_in_one_line(table1_folders: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(table1_folders), str(broken)], check=True)
    (broken / row_folder_name(TABLE1[1]) / "gradients.csv").unlink()
    done = subprocess.run([sys.executable, "scripts/results_figures.py", str(broken), "--out", str(tmp_path / "f")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 2
    missing = broken / row_folder_name(TABLE1[1]) / "gradients.csv"
    assert done.stderr.strip().splitlines() == [f"error: {missing}: missing"]
