"""The report's gradient-flow Figures 2, 3 and 5 from run folders, drawn by the dashboard's own chart builder
in its report style (linear axis, every epoch, zeros at 0), as PNG files.

    .venv/bin/python scripts/results_figures.py results/table1-cpu-8ep-bf16 --out docs/figures

RESULTS holds Table 1's run folders as `python -m vgp_models table1` names them (vgg08-lr0.001, ...); every
folder is read strictly (vgp_models.run_folder_reader.read_run_folder). Writes figure2-vgg08.png,
figure3-vgg38.png and figure5-vgg38-bn-rc.png, and prints one line per file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file from anywhere

from dashboard import charts  # noqa: E402
from vgp_models.config import TABLE1  # noqa: E402
from vgp_models.run_folder import RunFolderError  # noqa: E402
from vgp_models.run_folder_reader import read_run_folder
from vgp_models.table1 import row_folder_name  # noqa: E402

# (figure, Table 1 row): the report's Figure 2 is VGG08, Figure 3 VGG38, Figure 5 VGG38 BN+RC at lr 1e-2.
FIGURES = ((2, TABLE1[0]), (3, TABLE1[1]), (5, TABLE1[6]))


def flow_frame(folder: Path) -> pd.DataFrame:
    """The folder's gradients.csv as the chart builder reads a store's gradients."""
    contents = read_run_folder(folder)
    return pd.DataFrame(contents.gradients).assign(run_id=1, run=contents.config.label)


def draw(results: Path, out: Path, width: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, row in FIGURES:
        grads = flow_frame(results / row_folder_name(row))
        epochs = int(grads["epoch"].max())
        title = f"Figure {number}: {row.model} (lr {row.lr:g}), mean |gradient| per layer, epochs 1-{epochs}"
        chart = charts.gradient_flow_chart(grads, title=title, report_style=True)
        path = out / f"figure{number}-{row.preset}.png"
        path.write_bytes(charts.chart_image(chart, "png", width=width))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a folder of Table 1's run folders")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--width", type=int, default=900, help="chart width in px (default 900)")
    args = parser.parse_args(argv)
    try:
        for path in draw(args.results, args.out, args.width):
            print(path)
    except RunFolderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
