"""The fast path's options: bf16 autocast (`amp`) and `torch.compile` (`compile`).

Both are off by default, are recorded in the run's config (RunConfig, the CLIs, checkpoints), and a tiny
CPU run completes with each. Off, the loop is plain fp32 eager PyTorch: bit-identical to a hand-written
epoch built from the same pieces. The compile test builds 22 C++ kernels with the system compiler: about 45 s
of CPU the first time (later runs of the same install reuse torch's on-disk cache: about 12 s).
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_train import colour_classes

from vgp_models.cli_options import OneLineArgumentParser, add_run_arguments, config_from_args
from vgp_models.config import RunConfig
from vgp_models.data import Cifar100, augment
from vgp_models.gradstats import GradientStats
from vgp_models.metrics import EpochMetrics
from vgp_models.train import build_model, make_optimizer, model_input, train

TINY = {"depth": 8, "width": 8, "batch_size": 32, "epochs": 2, "device": "cpu"}


@pytest.fixture(scope="module")
def data() -> Cifar100:
    # 80 train images at batch 32: the last step of each epoch is a short batch of 16 (a new shape)
    return Cifar100(colour_classes(80, 0), colour_classes(32, 1), colour_classes(32, 2))


def run(config: RunConfig, data: Cifar100, **kwargs) -> tuple[list[EpochMetrics], object]:
    metrics: list[EpochMetrics] = []
    result = train(config, data, on_epoch=metrics.append, **kwargs)
    return [dataclasses.replace(m, seconds=0.0) for m in metrics], result


def test_flags_default_off_and_are_recorded() -> None:
    assert (RunConfig().amp, RunConfig().compile) == (False, False)
    config = RunConfig.from_preset("vgg38-bn-rc", amp=True, compile=True)
    assert config.to_dict()["amp"] is True and config.to_dict()["compile"] is True
    assert RunConfig.from_dict(config.to_dict()) == config
    assert RunConfig.from_dict({"depth": 8}).amp is False  # rows written before the fields existed still load

    parser = OneLineArgumentParser(prog="t")
    add_run_arguments(parser)
    on = config_from_args(parser.parse_args(["--preset", "vgg08", "--amp", "--compile"]))
    assert (on.amp, on.compile) == (True, True)
    off = config_from_args(parser.parse_args(["--preset", "vgg08", "--no-amp", "--no-compile"]))
    assert (off.amp, off.compile) == (False, False)
    assert config_from_args(parser.parse_args(["--preset", "vgg08"])) == RunConfig.from_preset("vgg08")


def test_flags_off_is_plain_fp32_eager_bit_for_bit(data: Cifar100) -> None:
    """train() with amp and compile off equals one epoch written out by hand from the same pieces."""
    config = RunConfig(**{**TINY, "epochs": 1}, amp=False, compile=False)
    (metrics,), _ = run(config, data)

    model = build_model(config)
    optimizer, _ = make_optimizer(model, config)
    stats = GradientStats(model)
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + 1)  # train()'s per-epoch seed
    order = torch.randperm(len(data.train), generator=generator)
    loss_sum = torch.zeros(())
    for start in range(0, len(order), config.batch_size):
        idx = order[start : start + config.batch_size]
        loss = F.cross_entropy(model(model_input(augment(data.train.images[idx], generator), config)),
                               data.train.labels[idx])  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        stats.update()
        loss_sum += loss.detach() * len(idx)
    assert metrics.train_loss == loss_sum.item() / len(data.train)
    assert [g.abs_mean_last for g in metrics.grads] == stats.read()["abs_mean_last"]


def test_amp_run_completes_close_to_fp32(data: Cifar100, tmp_path: Path) -> None:
    fp32, _ = run(RunConfig(**TINY), data)
    bf16, result = run(RunConfig(**TINY, amp=True), data, checkpoint_dir=tmp_path)
    assert result.status == "completed" and result.epochs_run == 2
    assert torch.load(tmp_path / "last.pt", weights_only=True)["config"]["amp"] is True
    for a, b in zip(fp32, bf16):
        assert all(math.isfinite(v) for v in (b.train_loss, b.val_loss, *(g.abs_mean_last for g in b.grads)))
        assert b.train_loss == pytest.approx(a.train_loss, abs=0.05)  # bf16 rounding, not a different run
        assert b.val_loss == pytest.approx(a.val_loss, abs=0.05)
    assert bf16 != fp32  # autocast really was on: bf16 rounding shows in the numbers


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                    reason="torch.compile on CPU needs a C compiler (cc or gcc), none on PATH")  # fmt: skip
@pytest.mark.slow
def test_compile_run_completes_close_to_eager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kernels compiled here, one at a time: inductor's default pool of compile processes (each importing torch)
    # costs more CPU than it saves on a 2-core machine whose other core runs other tests (docs/benchmarks.md).
    monkeypatch.setattr(torch._inductor.config, "compile_threads", 1)
    # Two full batches an epoch: a short last batch is a new shape, and torch's recompile for it (its automatic
    # dynamic shapes, not our code) would build 37 kernels instead of 22, 64 s of CPU instead of 44 on a cold cache.
    data = Cifar100(colour_classes(64, 0), colour_classes(32, 1), colour_classes(32, 2))
    eager, _ = run(RunConfig(**TINY), data)
    try:
        compiled, result = run(RunConfig(**TINY, compile=True), data, checkpoint_dir=tmp_path)
    finally:
        torch._dynamo.reset()  # no compiled graphs or recompile counts left for other tests
    assert result.status == "completed" and result.epochs_run == 2
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["config"]["compile"] is True
    assert not any(key.startswith("_orig_mod.") for key in last["model"])  # checkpoints load into a plain VGG
    for a, b in zip(eager, compiled):  # fused kernels round differently; same run otherwise
        assert b.train_loss == pytest.approx(a.train_loss, rel=1e-4)
        assert b.val_loss == pytest.approx(a.val_loss, rel=1e-4)
        assert [g.layer for g in b.grads] == [g.layer for g in a.grads]
        # the forward signal's batch runs eagerly (a compiled graph runs no hooks added later): recorded all the same
        assert [s.layer for s in b.signals] == [s.layer for s in a.signals] and b.signals
        assert [s.std for s in b.signals] == pytest.approx([s.std for s in a.signals], rel=1e-2)
