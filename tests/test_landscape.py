"""The loss landscape (vgp_models.landscape): filter-normalised seeded directions, a quadratic toy whose landscape is
known in closed form, the centre equal to the checkpoint's own loss, `python -m vgp_models landscape`, and the
strict reader of its files (vgp_models.landscape_file)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.cli_support import run_module
from vgp_models.config import ConfigError, RunConfig
from vgp_models.data import load_cifar100
from vgp_models.landscape import directions, landscape_model, measure_landscape, walk
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.landscape_file import read_folder_landscapes, read_landscape
from vgp_models.run_folder import RunFolderError
from vgp_models.train import evaluate, train

REPO = Path(__file__).resolve().parents[1]
TINY_NET = {"depth": 8, "width": 8, "batch_norm": True, "batch_size": 32, "epochs": 1, "subset": 64, "device": "cpu"}


def test_config_validates_in_one_line():
    config = LandscapeConfig(run_id=3, dims=1, points=5, span=0.5)
    assert LandscapeConfig.from_dict(config.to_dict()) == config and config.total == 5
    assert [a for _, _, a, _ in config.grid()] == [-0.5, -0.25, 0.0, 0.25, 0.5]
    assert LandscapeConfig(points=21).grid()[220] == (10, 10, 0.0, 0.0)  # the centre is exactly on the grid
    for bad, message in [(dict(points=4), "points must be odd"), (dict(points=1), "points must be a whole number"),
                         (dict(dims=3), "dims must be 1 or 2"), (dict(kind="worst"), "kind must be best or last"),
                         (dict(run_id=1, preset="vgg08"), "not both"), (dict(preset="vgg99"), "unknown preset"),
                         (dict(span=0), "span must be"), (dict(images=0), "images must be"),
                         (dict(run_id="1"), "run_id must be"), (dict(amp="yes"), "amp must be"),
                         (dict(device="tpu"), "device must be")]:  # fmt: skip
        with pytest.raises(ConfigError, match=re.escape(message)):
            LandscapeConfig(**bad)
    with pytest.raises(ConfigError, match="unknown landscape field"):
        LandscapeConfig.from_dict({"depth": 8})


def toy() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 3, bias=False))


def test_directions_are_seeded_filter_normalised_and_zero_on_biases_and_bn():
    model = toy()
    (d1, d2), again = directions(model, 2, seed=7), directions(model, 1, seed=7)
    params = list(model.parameters())
    assert [d is None for d in d1] == [False, True, True, True, False]  # weight, bias, BN gamma, BN beta, weight
    for d, p in [(d1[0], params[0]), (d2[0], params[0]), (d1[4], params[4])]:
        assert torch.allclose(d.norm(dim=1), p.detach().norm(dim=1), rtol=1e-5)  # each filter (row) scaled to theta's
    assert torch.equal(again[0][0], d1[0]) and not torch.equal(d1[0], d2[0])  # a 1D slice runs along the 2D's d1
    assert not torch.equal(directions(model, 1, seed=8)[0][0], d1[0])


def test_quadratic_toy_gives_its_known_landscape_and_leaves_biases_and_bn_alone():
    """loss(theta) = ||theta - theta0||^2 over the weights: at theta0 + a d1 + b d2 it is a^2 |d1|^2 + 2ab <d1, d2> +
    b^2 |d2|^2, and a filter-normalised direction has |d|^2 = |theta0|^2, so the 1D slice is a^2 |theta0|^2."""
    model = toy()
    weights = [model[0].weight, model[2].weight]
    theta0 = [w.detach().clone() for w in weights]
    frozen = [model[0].bias.detach().clone(), model[1].weight.detach().clone(), model[1].bias.detach().clone()]
    seen_frozen = []

    def quadratic(m: nn.Module) -> tuple[float, float]:
        seen_frozen.append(all(torch.equal(a, b) for a, b in zip([m[0].bias, m[1].weight, m[1].bias], frozen)))
        return float(sum(((w.detach() - t) ** 2).sum() for w, t in zip(weights, theta0))), 0.5

    norm2 = float(sum((t**2).sum() for t in theta0))
    curve = walk(LandscapeConfig(dims=1, points=5, span=2.0), model, quadratic)
    assert [p.alpha for p in curve] == [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert [p.loss for p in curve] == pytest.approx([a * a * norm2 for a in (-2, -1, 0, 1, 2)], rel=1e-5)

    config = LandscapeConfig(dims=2, points=3, seed=3)
    d1, d2 = directions(model, 2, seed=3)
    dot = float(d1[0].mul(d2[0]).sum() + d1[4].mul(d2[4]).sum())
    grid = walk(config, model, quadratic)
    assert [(p.i, p.j) for p in grid] == [(i, j) for i in range(3) for j in range(3)]
    for p in grid:
        assert p.loss == pytest.approx(p.alpha**2 * norm2 + 2 * p.alpha * p.beta * dot + p.beta**2 * norm2, abs=1e-4)
    assert grid[4].loss == 0.0 and all(seen_frozen)
    assert all(torch.equal(w, t) for w, t in zip(weights, theta0))  # theta restored afterwards


def test_should_stop_and_on_point():
    seen = []
    points = walk(LandscapeConfig(dims=1, points=7), toy(), lambda m: (1.0, 0.0),
                  on_point=lambda p, done, total: seen.append((done, total)),
                  should_stop=lambda: len(seen) >= 2)  # fmt: skip
    assert len(points) == 2 and seen == [(1, 7), (2, 7)]


@pytest.fixture(scope="module")
def trained(cifar_dir, tmp_path_factory) -> Path:
    """A tiny VGG08 with BN trained one epoch on the fake CIFAR; its checkpoint folder."""
    folder = tmp_path_factory.mktemp("ckpt")
    result = train(RunConfig.from_dict(TINY_NET), data_dir=cifar_dir, checkpoint_dir=folder)
    assert result.status == "completed"
    return folder


def test_centre_equals_the_checkpoints_own_loss(trained, cifar_dir):
    state = torch.load(trained / "best.pt", weights_only=True)
    run_config = RunConfig.from_dict(state["config"])
    data = load_cifar100(cifar_dir, subset=40)
    config = LandscapeConfig(dims=1, points=3, images=40)
    points = measure_landscape(config, run_config, state, data, torch.device("cpu"))
    model = landscape_model(run_config, state, data, torch.device("cpu"))
    assert (points[1].loss, points[1].acc) == evaluate(model, data.train, run_config)
    assert points[0].loss != points[1].loss
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(bn.running_mean, state["model"]["input_conv.bn_0.running_mean"])  # the checkpoint's own stats


def test_fresh_net_uses_bn_statistics_of_the_landscapes_images(cifar_dir):
    data = load_cifar100(cifar_dir, subset=40)
    model = landscape_model(RunConfig.from_dict(TINY_NET), None, data, torch.device("cpu"))
    bn = model.input_conv.bn_0
    assert not model.training and bn.running_mean.abs().sum() > 0 and bn.momentum == 0.1
    again = landscape_model(RunConfig.from_dict(TINY_NET), None, data, torch.device("cpu"))
    assert torch.equal(again.input_conv.bn_0.running_var, bn.running_var)


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_module("vgp_models", "landscape", *args)


@pytest.mark.slow
def test_cli_writes_the_points_and_a_record_the_importer_reads(trained, cifar_dir, tmp_path):
    out = tmp_path / "run" / "landscape_2d.csv"
    done = cli("--checkpoint", str(trained / "best.pt"), "--dims", "2", "--points", "3", "--images", "16",
               "--data", str(cifar_dir), "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 9 and float(rows[4]["loss"]) == summary["centre_loss"] and rows[4]["alpha"] == "0.0"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["config"]["dims"] == 2 and record["epoch"] == 1 and record["label"] == "VGG08 BN x8"
    (stored,) = read_folder_landscapes(out.parent)
    assert stored.config.points == 3 and stored.points[4]["loss"] == summary["centre_loss"]

    fresh = cli("--fresh", "vgg08", "--dims", "1", "--points", "3", "--images", "8", "--data", str(cifar_dir),
                "--out", str(tmp_path / "fresh.csv"))  # fmt: skip
    assert fresh.returncode == 0, fresh.stderr
    assert read_landscape(tmp_path / "fresh.csv").config.preset == "vgg08"

    for args, line in [(["--fresh", "vgg08", "--points", "4"], "error: points must be odd"),
                       (["--checkpoint", str(tmp_path / "none.pt")], "none.pt: no such file"),
                       (["--checkpoint", str(out.with_suffix(".json"))], "")]:  # fmt: skip
        bad = cli(*args, "--data", str(cifar_dir), "--out", str(tmp_path / "x.csv"))
        assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert line in bad.stderr


def test_reader_refuses_a_bad_file_in_one_line(trained, cifar_dir, tmp_path):
    out = tmp_path / "landscape_1d.csv"
    assert cli("--checkpoint", str(trained / "best.pt"), "--dims", "1", "--points", "3", "--images", "8",
               "--data", str(cifar_dir), "--out", str(out)).returncode == 0  # fmt: skip
    good = out.read_text()
    for broken, message in [(good.replace("\n0,0,-1.0", "\n0,0,-0.9"), "not the grid's"),
                            ("\n".join(good.splitlines()[:-1]) + "\n", "2 points, 3 expected"),
                            (good.replace(",0,", ",x,", 1), "point (0, x), (0, 0) expected"),
                            (good.replace("i,j", "j,i"), "columns i,j,alpha,beta,loss,acc expected")]:  # fmt: skip
        out.write_text(broken)
        with pytest.raises(RunFolderError, match=re.escape(message)):
            read_folder_landscapes(tmp_path)
    out.write_text(good)
    out.rename(tmp_path / "landscape_2d.csv")
    out.with_suffix(".json").rename(tmp_path / "landscape_2d.json")
    with pytest.raises(RunFolderError, match="dims 1, but the file is landscape_2d"):
        read_folder_landscapes(tmp_path)
