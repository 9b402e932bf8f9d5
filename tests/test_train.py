"""The training loop on tiny data: learning, determinism, resume, divergence, cancellation, early stopping.

Everything on CPU with width-8 nets and the conftest's 300-image CIFAR-100 folder (285 train, 15 val,
100 test), batch 32: 9 steps an epoch.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.train_support import colour_classes
from vgp_models.config import RunConfig
from vgp_models.data import Cifar100, DataError, load_cifar100
from vgp_models.metrics import EpochMetrics, StepPoint
from vgp_models.train import build_model, evaluate, model_input, train

STEPS_PER_EPOCH = 9  # ceil(285 / 32)
SMALL = {"depth": 14, "width": 8, "batch_norm": True, "residual": True, "batch_size": 32, "device": "cpu"}


def comparable(metrics: list[EpochMetrics]) -> list[EpochMetrics]:
    """Everything but the wall-clock times."""
    return [
        dataclasses.replace(m, seconds=0.0, steps=[dataclasses.replace(p, seconds=0.0) for p in m.steps])
        for m in metrics
    ]


def outcome(result) -> tuple:
    return (result.status, result.epochs_run, result.best_epoch, result.best_val_acc, result.test_loss, result.test_acc)


class Boom(Exception):
    pass


def test_vgg08_learns() -> None:
    data = Cifar100(colour_classes(256, 0), colour_classes(64, 1), colour_classes(64, 2))
    config = RunConfig(depth=8, width=8, lr=1e-2, batch_size=32, epochs=4, device="cpu")
    start_loss, _ = evaluate(build_model(config), data.val, config)
    assert start_loss == pytest.approx(math.log(100), abs=0.2)
    metrics: list[EpochMetrics] = []
    result = train(config, data, on_epoch=metrics.append)
    assert result.status == "completed" and result.epochs_run == 4
    assert [m.epoch for m in metrics] == [1, 2, 3, 4]
    assert metrics[-1].train_loss < metrics[0].train_loss - 1.0
    assert metrics[-1].val_loss < start_loss - 1.0
    assert result.test_loss is not None and result.test_loss < start_loss - 1.0
    assert len(metrics[0].grads) == 9 and metrics[0].grads[0].layer == "input_conv_conv_0"


def test_same_seed_same_numbers(cifar_dir: Path) -> None:
    config = RunConfig(**SMALL, epochs=2)
    runs = []
    for seed in (0, 0, 1):
        metrics: list[EpochMetrics] = []
        result = train(dataclasses.replace(config, seed=seed), data_dir=cifar_dir, on_epoch=metrics.append)
        runs.append((comparable(metrics), outcome(result)))
    assert runs[0] == runs[1]  # bit for bit, gradient statistics included
    assert runs[0][0] != runs[2][0]  # and the seed does matter
    grads = runs[0][0][-1].grads
    assert len(grads) == 2 + 3 * 8 + 1 and all(g.abs_mean_last > 0 and g.l2 > 0 for g in grads)


def test_learning_rate_follows_the_cosine(cifar_dir: Path) -> None:
    config = RunConfig(depth=8, width=8, batch_size=64, epochs=4, lr=1e-2, eta_min=1e-4, device="cpu")
    metrics: list[EpochMetrics] = []
    train(config, data_dir=cifar_dir, on_epoch=metrics.append)
    expected = [1e-4 + (1e-2 - 1e-4) * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(4)]
    assert [m.lr for m in metrics] == pytest.approx(expected, rel=1e-9)


def test_channels_last_is_the_same_maths() -> None:
    """One forward/backward with and without NHWC: equal up to float32 rounding.

    (No BN here: a conv bias before BN has a true gradient of 0, so its computed value is rounding noise,
    and training runs drift apart through Adam, so neither can be compared with a tolerance.)
    """
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 100, (32,), generator=g)
    results = []
    for channels_last in (True, False):
        config = RunConfig(depth=14, width=8, residual=True, channels_last=channels_last, device="cpu")
        model = build_model(config)
        loss = F.cross_entropy(model(model_input(images, config)), labels)
        loss.backward()
        results.append((loss.item(), [p.grad for p in model.parameters()]))
    (loss_nhwc, grads_nhwc), (loss_nchw, grads_nchw) = results
    assert loss_nhwc == pytest.approx(loss_nchw, rel=1e-6)
    for a, b in zip(grads_nhwc, grads_nchw):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4 * b.abs().max().item())


@pytest.fixture(scope="module")
def uninterrupted(cifar_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("uninterrupted")
    metrics: list[EpochMetrics] = []
    result = train(RunConfig(**SMALL, epochs=3), data_dir=cifar_dir, checkpoint_dir=out, on_epoch=metrics.append)
    assert result.status == "completed"
    return comparable(metrics), outcome(result), out


def test_best_checkpoint_is_what_is_tested(cifar_dir: Path, uninterrupted: tuple) -> None:
    metrics, (_, _, best_epoch, best_val_acc, test_loss, test_acc), out = uninterrupted
    assert best_val_acc == max(m.val_acc for m in metrics)
    assert best_epoch == next(m.epoch for m in metrics if m.val_acc == best_val_acc)  # the first of equals
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["epoch"] == best_epoch
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 3
    config = RunConfig(**SMALL, epochs=3)
    model = build_model(config)
    model.load_state_dict(best["model"])
    assert evaluate(model, load_cifar100(cifar_dir).test, config) == (test_loss, test_acc)


def test_resume_after_a_crash_equals_uninterrupted(cifar_dir: Path, tmp_path: Path, uninterrupted: tuple) -> None:
    """Crash inside on_epoch of epoch 2: last.pt still holds epoch 1, so the resumed run repeats epoch 2."""
    config = RunConfig(**SMALL, epochs=3)
    seen: list[EpochMetrics] = []

    def crash_at_2(m: EpochMetrics) -> None:
        # on_epoch runs before last.pt is written: the file must still be the previous epoch's
        last = tmp_path / "last.pt"
        assert (torch.load(last, weights_only=True)["epoch"] if last.exists() else 0) == m.epoch - 1
        seen.append(m)
        if m.epoch == 2:
            raise Boom

    with pytest.raises(Boom):
        train(config, data_dir=cifar_dir, checkpoint_dir=tmp_path, on_epoch=crash_at_2)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1
    resumed: list[EpochMetrics] = []
    result = train(config, data_dir=cifar_dir, checkpoint_dir=tmp_path, resume=True, on_epoch=resumed.append)
    metrics, final, _ = uninterrupted
    assert [m.epoch for m in resumed] == [2, 3]
    assert comparable(seen) == metrics[:2]
    assert comparable(resumed) == metrics[1:]
    assert outcome(result) == final
    assert resumed[0].steps[0].seconds > seen[0].steps[-1].seconds  # the wall-time axis goes on after a resume


def test_checkpoints_carry_the_git_commit_and_older_ones_without_it_resume(
    cifar_dir: Path, tmp_path: Path, uninterrupted: tuple
) -> None:
    config, commit = RunConfig(**SMALL, epochs=3), "ab" * 20

    def crash_at_2(m: EpochMetrics) -> None:
        if m.epoch == 2:
            raise Boom

    with pytest.raises(Boom):
        train(config, data_dir=cifar_dir, checkpoint_dir=tmp_path, on_epoch=crash_at_2, git_commit=commit)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["git_commit"] == commit and torch.load(tmp_path / "best.pt", weights_only=True)["git_commit"] == commit
    del last["git_commit"]  # as written before checkpoints carried it
    torch.save(last, tmp_path / "last.pt")
    result = train(config, data_dir=cifar_dir, checkpoint_dir=tmp_path, resume=True)
    assert outcome(result) == uninterrupted[1]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["git_commit"] is None  # none given this time


def test_resume_after_cancel_equals_uninterrupted(cifar_dir: Path, tmp_path: Path, uninterrupted: tuple) -> None:
    config = RunConfig(**SMALL, epochs=3)
    calls = 0

    def stop_mid_epoch_2() -> bool:
        nonlocal calls
        calls += 1
        return calls == STEPS_PER_EPOCH + 5

    first: list[EpochMetrics] = []
    result = train(
        config, data_dir=cifar_dir, checkpoint_dir=tmp_path, on_epoch=first.append, should_stop=stop_mid_epoch_2
    )
    assert (result.status, result.epochs_run, result.test_acc) == ("cancelled", 1, None)
    assert "\n" not in result.message
    assert [m.epoch for m in first] == [1]
    resumed: list[EpochMetrics] = []
    result = train(config, data_dir=cifar_dir, checkpoint_dir=tmp_path, resume=True, on_epoch=resumed.append)
    metrics, final, _ = uninterrupted
    assert comparable(first + resumed) == metrics
    assert outcome(result) == final


def test_should_stop_cancels_before_any_step(cifar_dir: Path) -> None:
    steps: list[tuple[int, int]] = []
    result = train(
        RunConfig(**SMALL, epochs=2),
        data_dir=cifar_dir,
        should_stop=lambda: True,
        on_step=lambda s, n: steps.append((s, n)),
    )
    assert result.status == "cancelled" and result.epochs_run == 0
    assert result.best_epoch is None and result.test_acc is None and steps == []


def test_on_step_reports_progress(cifar_dir: Path) -> None:
    steps: list[tuple[int, int]] = []
    train(
        RunConfig(depth=8, width=8, batch_size=32, epochs=1, device="cpu"),
        data_dir=cifar_dir,
        on_step=lambda s, n: steps.append((s, n)),
    )
    assert steps == [(s, STEPS_PER_EPOCH) for s in range(1, STEPS_PER_EPOCH + 1)]


def test_step_points_every_k_steps_live_and_per_epoch(cifar_dir: Path) -> None:
    config = RunConfig(**SMALL, epochs=2, step_every=2)
    metrics: list[EpochMetrics] = []
    live: list[StepPoint] = []
    train(config, data_dir=cifar_dir, on_epoch=metrics.append, on_points=live.extend)
    # Steps 2, 4, 6, 8 of each 9-step epoch, numbered globally; the epoch's lr (stepped per epoch) on each.
    assert [p.step for m in metrics for p in m.steps] == [2, 4, 6, 8, 11, 13, 15, 17]
    assert [p.epoch for p in metrics[1].steps] == [2] * 4
    assert all(p.lr == m.lr for m in metrics for p in m.steps)
    assert live == [p for m in metrics for p in m.steps]  # the same points, delivered while the epoch ran
    assert all(math.isfinite(p.loss) and p.seconds > 0 for p in live)
    seconds = [p.seconds for p in live]
    assert seconds == sorted(seconds)


def test_every_step_recorded_is_the_epoch_loss_and_changes_nothing(cifar_dir: Path) -> None:
    """step_every 1 records every step's batch loss: their batch-weighted mean is the epoch's train loss. The
    default (about 50 points an epoch: every step of these 9-step epochs) and a sparse interval train the same."""
    runs = []
    for every in (1, 0, 1000):
        metrics: list[EpochMetrics] = []
        result = train(RunConfig(**SMALL, epochs=1, step_every=every), data_dir=cifar_dir, on_epoch=metrics.append)
        runs.append((metrics, outcome(result)))
    (every_step, result), (default, _), (none, sparse_result) = runs
    points = every_step[0].steps
    assert [p.step for p in points] == list(range(1, STEPS_PER_EPOCH + 1)) == [p.step for p in default[0].steps]
    sizes = [32] * 8 + [285 - 8 * 32]
    assert sum(p.loss * n for p, n in zip(points, sizes)) / 285 == pytest.approx(every_step[0].train_loss, rel=1e-6)
    assert none[0].steps == [] and result == sparse_result
    strip = [dataclasses.replace(m, steps=[]) for m in comparable(every_step + none)]
    assert strip[0] == strip[1]  # bit for bit: recording read nothing the training depends on


def test_huge_learning_rate_diverges(cifar_dir: Path, tmp_path: Path) -> None:
    # lr 10 (the config's cap) with no BN in the processing blocks: the loss overflows within a few steps.
    # Shallower nets at lr 10 reach losses of 1e17..1e35 that stay finite, which the loop does not flag.
    config = RunConfig(depth=26, width=8, lr=10.0, batch_size=8, epochs=2, device="cpu")
    metrics: list[EpochMetrics] = []
    result = train(config, data_dir=cifar_dir, checkpoint_dir=tmp_path, on_epoch=metrics.append)
    assert result.status == "diverged"
    assert isinstance(result.diverged_step, int) and 1 <= result.diverged_step <= math.ceil(285 / 8)
    assert str(result.diverged_step) in result.message and "\n" not in result.message
    assert result.epochs_run == 0 and metrics == []
    assert result.test_loss is None and result.test_acc is None
    assert not (tmp_path / "last.pt").exists()


def test_early_stopping_with_patience(cifar_dir: Path) -> None:
    config = RunConfig(**SMALL, epochs=10, patience=2)
    metrics: list[EpochMetrics] = []
    result = train(config, data_dir=cifar_dir, on_epoch=metrics.append)
    assert result.status == "completed" and "early stop" in result.message
    assert result.epochs_run < 10 and len(metrics) == result.epochs_run
    assert result.epochs_run == result.best_epoch + 2
    best = result.best_val_acc
    assert all(m.val_acc <= best for m in metrics[result.best_epoch :])  # no strict gain after the best
    assert all(m.val_acc < best for m in metrics[: result.best_epoch - 1])
    assert result.test_acc is not None


def test_bad_data_folder_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        train(RunConfig(**SMALL, epochs=1), data_dir=tmp_path)
    assert str(tmp_path / "cifar-100-python") in str(err.value) and "\n" not in str(err.value)
