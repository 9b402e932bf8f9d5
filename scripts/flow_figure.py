"""Several run folders' gradient flow on one chart (log axis, colour = run, a line per epoch), drawn by the
dashboard's own chart builder, as a PNG: e.g. plain-56 against ResNet-56 from the example plugin.

    .venv/bin/python scripts/flow_figure.py runs/plain56 runs/resnet56 --out docs/figures/plain56-vs-resnet56.png

Every folder is read strictly (vgp_models.run_folder_reader.read_run_folder): its architecture must be registered here.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file from anywhere

from dashboard import charts  # noqa: E402
from vgp_models.run_folder import RunFolderError  # noqa: E402
from vgp_models.run_folder_reader import read_run_folder


def flows(folders: list[Path]) -> pd.DataFrame:
    """The folders' gradients.csv, one run each, named by its config's label."""
    parts = []
    for run_id, folder in enumerate(folders, 1):
        contents = read_run_folder(folder)
        parts.append(pd.DataFrame(contents.gradients).assign(run_id=run_id, run=contents.config.label))
    return pd.concat(parts, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="run folders (python -m vgp_models train --out)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG file")
    parser.add_argument("--title", default="Mean |gradient| per layer (last batch of each epoch)")
    parser.add_argument("--width", type=int, default=1100, help="chart width in px (default 1100)")
    args = parser.parse_args(argv)
    try:
        chart = charts.gradient_flow_chart(flows(args.folders), title=args.title)
    except RunFolderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(charts.chart_image(chart, "png", width=args.width))).convert("RGB")
    image.quantize(colors=32).save(args.out, optimize=True)  # a few line colours: a small file for the docs
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
