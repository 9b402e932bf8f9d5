"""The "why it vanishes" figures of docs/results.md, from the run folders scripts/why_results.py writes, drawn by
the dashboard's own chart builders, as PNG files.

    .venv/bin/python scripts/why_figures.py results/why-cpu-2ep-5k-fp32 --out docs/figures

Writes why-signal-std.png (the forward signal along each net), why-updates.png (what each weight tensor learned),
why-gain.png (the gain per layer), why-landscape-1d.png and, where the folders carry them, why-landscape-2d.png
(VGG38, VGG38 RC and VGG38 BN+RC on one colour scale); prints one line per file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file from anywhere

from dashboard import charts  # noqa: E402
from dashboard.gains import layer_gains  # noqa: E402
from vgp_models.landscape_file import read_folder_landscapes  # noqa: E402
from vgp_models.run_folder import RunFolderError  # noqa: E402
from vgp_models.run_folder_reader import read_run_folder


def frames(results: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(signals, gradients, landscape points) of every run folder under `results`, each row with its `run`."""
    signals, grads, points = [], [], []
    for run_id, folder in enumerate(sorted(p for p in results.iterdir() if p.is_dir()), start=1):
        contents = read_run_folder(folder)
        name = contents.record.get("label") or folder.name
        signals.append(pd.DataFrame(contents.signals).assign(run_id=run_id, run=name))
        grads.append(pd.DataFrame(contents.gradients).assign(run_id=run_id, run=name))
        for stored in read_folder_landscapes(folder):
            points.append(pd.DataFrame(stored.points).assign(series=name, dims=stored.config.dims))
    return pd.concat(signals), pd.concat(grads), pd.concat(points) if points else pd.DataFrame()


def latest(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["epoch"] == frame["epoch"].max()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the folder of run folders (scripts/why_results.py --out)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        signals, grads, points = frames(args.results)
    except (RunFolderError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    gains = layer_gains(grads).merge(grads[["run_id", "run"]].drop_duplicates(), on="run_id")
    figures = {
        "why-signal-std": charts.per_layer_chart(latest(signals), "std", title="Forward signal: std across the batch"),
        "why-updates": charts.per_layer_chart(
            latest(grads), "update_ratio", title="Relative update of each weight tensor"
        ),
        "why-gain": charts.gain_chart(latest(gains), title="Gain per layer (mean |grad| ratio)"),
    }
    if len(points):
        figures["why-landscape-1d"] = charts.curve_chart(points[points["dims"] == 1])
        if (points["dims"] == 2).any():
            figures["why-landscape-2d"] = charts.contours_side_by_side(points[points["dims"] == 2])
    args.out.mkdir(parents=True, exist_ok=True)
    for name, chart in figures.items():
        path = args.out / f"{name}.png"
        path.write_bytes(charts.chart_image(chart, "png"))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
