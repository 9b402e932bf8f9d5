"""The headless CLI, `python -m vgp_models`: info, a short train run's files, and bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from tests.cli_support import run_module
from tests.run_support import epoch_metrics
from vgp_models.__main__ import main
from vgp_models.metrics import LayerGrad
from vgp_models.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "VGP_DATA_DIR"}
    return run_module("vgp_models", *args, env=env, timeout=120)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize(
    "args, params, n_layers",
    [
        (["--preset", "vgg08"], 59_716, 9),
        (["--preset", "vgg38"], 336_196, 39),
        (["--preset", "vgg38-rc"], 336_196, 39),
        (["--preset", "vgg38-bn"], 338_500, 75),
        (["--preset", "vgg38-bn-rc"], 338_500, 75),
        (["--depth", "38", "--bn", "--rc", "--shortcut", "avgpool"], 338_500, 75),
        (["--depth", "38", "--bn", "--rc", "--shortcut", "conv1x1"], 341_764, 81),
    ],
)
def test_info(capsys: pytest.CaptureFixture, args: list[str], params: int, n_layers: int) -> None:
    assert main(["info", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == params
    assert len(out["layers"]) == n_layers
    assert out["layers"][0] == "input_conv_conv_0" and out["layers"][-1] == "logit_linear_layer"


def test_train_writes_the_coursework_files(cifar_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        "--depth",
        "8",
        "--width",
        "8",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--subset",
        "200",
        "--device",
        "cpu",
        "--data",
        str(cifar_dir),
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    status = json.loads(proc.stdout.strip().splitlines()[-1])
    assert status["status"] == "completed"

    summary = read_csv(out / "summary.csv")
    assert summary[0] == ["train_acc", "train_loss", "val_acc", "val_loss"]
    assert len(summary) == 1 + 2
    for row in summary[1:]:
        train_acc, train_loss, val_acc, val_loss = map(float, row)
        assert 0 <= train_acc <= 1 and 0 <= val_acc <= 1 and train_loss > 0 and val_loss > 0

    test = read_csv(out / "test_summary.csv")
    assert test[0] == ["test_acc", "test_loss"] and len(test) == 2
    assert float(test[1][0]) == pytest.approx(status["test_acc"])
    assert float(test[1][1]) == pytest.approx(status["test_loss"])

    grads = read_csv(out / "gradients.csv")
    assert grads[0] == ["epoch", "layer_index", "layer", "abs_mean_last", "abs_mean_epoch", "l2", "weight_norm",
                        "update_ratio"]  # fmt: skip
    assert len(grads) == 1 + 2 * 9
    assert [int(r[0]) for r in grads[1:]] == [1] * 9 + [2] * 9
    assert [int(r[1]) for r in grads[1:10]] == list(range(9))
    assert grads[1][2] == "input_conv_conv_0" and grads[9][2] == "logit_linear_layer"
    assert all(float(v) > 0 for r in grads[1:] for v in r[3:])

    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2
    assert torch.load(out / "best.pt", weights_only=True)["epoch"] == status["best_epoch"]


BAD_ARGS = [
    ["--depth", "9"],
    ["--depth", "38", "--shortcut", "avgpool"],
    ["--lr", "nan"],
    ["--batch-size", "0"],
    ["--data", "/nonexistent/vgp-data"],
]


def train_args(cifar_dir: Path, out: Path, args: list[str]) -> list[str]:
    base = ["train", "--width", "8", "--epochs", "1", "--subset", "50", "--device", "cpu", "--out", str(out)]
    return base + (["--data", str(cifar_dir)] if "--data" not in args else []) + args


@pytest.mark.parametrize("args", [BAD_ARGS[0], BAD_ARGS[-1]])
def test_bad_input_is_one_line_exit_2(cifar_dir: Path, tmp_path: Path, args: list[str]) -> None:
    proc = run_cli(*train_args(cifar_dir, tmp_path / "x", args))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


@pytest.mark.parametrize("args", BAD_ARGS)
def test_bad_input_in_process(cifar_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str]) -> None:
    assert main(train_args(cifar_dir, tmp_path / "x", args)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")


@pytest.mark.parametrize("args", [["--depth", "abc"], ["--shortcut", "square"], ["--no-such-option"]])
def test_unparsable_options_are_one_line_exit_2(args: list[str]) -> None:
    proc = run_cli("info", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "usage" not in proc.stderr, proc.stderr


def test_garbage_data_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(b"garbage")
    code = main(
        [
            "train",
            "--width",
            "8",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "x"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(folder / "train") in err[0]


def test_epoch_rows_are_replaced_not_duplicated_after_a_resume(tmp_path: Path) -> None:
    """A crash between on_epoch and last.pt repeats that epoch on resume: its rows must not appear twice."""
    folder = RunFolder(tmp_path)
    for epoch in (1, 2, 2, 3):
        grads = [LayerGrad(i, f"layer_{i}", epoch / 100, epoch / 100, epoch) for i in range(2)]
        numbers = dict(train_acc=epoch / 10, val_loss=4.5 - epoch, val_acc=epoch / 10, seconds=1.5, grads=grads)
        folder.on_epoch(epoch_metrics(epoch, 3, **numbers))
    summary = read_csv(tmp_path / "summary.csv")
    assert summary[0] == ["train_acc", "train_loss", "val_acc", "val_loss"]
    assert [r[0] for r in summary[1:]] == ["0.1", "0.2", "0.3"]
    assert [r[0] for r in read_csv(tmp_path / "epochs.csv")[1:]] == ["1", "2", "3"]
    assert [r[0] for r in read_csv(tmp_path / "gradients.csv")[1:]] == ["1", "1", "2", "2", "3", "3"]


def test_resume_after_changing_lr_is_refused_in_one_line(
    cifar_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    assert main(train_args(cifar_dir, out, ["--lr", "1e-3"])) == 0
    before = (out / "last.pt").read_bytes()
    capsys.readouterr()
    assert main(train_args(cifar_dir, out, ["--lr", "1e-2", "--resume"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds another run" in err[0] and "lr" in err[0], err
    assert (out / "last.pt").read_bytes() == before  # the old run's checkpoint is left as it was
