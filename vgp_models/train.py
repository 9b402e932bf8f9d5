"""The training loop: one function shared by the CLI (`python -m vgp_models train`) and the worker's job.

Reference training (experiment.md): Adam (betas 0.9, 0.999; or `config.optimizer`), cross-entropy, cosine
annealing to eta_min with T_max = epochs stepped once per epoch (or every iteration, as the 2023-25
framework did), per-epoch train metrics over the epoch's augmented batches, then val; the best-val
checkpoint (strictly greater accuracy) is evaluated once on the test set at the end.

Determinism: the model's init comes from `seed`; each epoch's shuffle and augmentation come from a
generator seeded by (seed, epoch). So a resumed run equals an uninterrupted one without saving RNG state.
Syncs: losses, accuracies and gradient statistics accumulate on the device and are read once per epoch;
the divergence flag is read every `DIVERGENCE_CHECK_EVERY` steps.
Gradient amplification (amplify.py) switches its hooks on or off at the start of each epoch.
Why it vanishes (signals.py): the forward signal is recorded by hooks on the epoch's last full batch only,
and each weight tensor's relative update from a copy of the weights taken at the epoch's start; both only read,
so a run's numbers are the same with them (`signals=False`) or without.
Speed options, all in RunConfig: `channels_last` (on by default, same maths), `amp` (bf16 autocast around
forward and loss, off by default) and `compile` (torch.compile for the training steps, off by default).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vgp_models.amplify import Amplifier
from vgp_models.checkpoints import CheckpointStore, FileCheckpoints
from vgp_models.config import RunConfig, same_config
from vgp_models.data import DEFAULT_DATA_DIR, Cifar100, Split, augment, load_cifar100, normalise
from vgp_models.gradstats import GradientStats
from vgp_models.metrics import CheckpointMismatch, EpochMetrics, LayerGrad, StepPoint, TrainResult
from vgp_models.nets import init_weights, network
from vgp_models.signals import ForwardSignal, WeightUpdates
from vgp_models.step_log import StepLog, step_interval
from vgp_models.vgg import count_parameters

log = logging.getLogger(__name__)

DIVERGENCE_CHECK_EVERY = 50  # steps between reads of the on-device non-finite-loss flag (one sync each)
EVAL_BATCH = 1000  # eval has no gradients, so larger batches; per-sample results do not depend on it


def resolve_device(config: RunConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda was asked for, but torch sees no CUDA GPU here")
    return torch.device(config.device)


def build_model(config: RunConfig, device: torch.device | str = "cpu") -> torch.nn.Module:
    torch.manual_seed(config.seed)
    model = network(config)
    init_weights(model, config)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if config.channels_last else model


def model_input(images: torch.Tensor, config: RunConfig) -> torch.Tensor:
    """uint8 (B, 3, 32, 32) -> the normalised float batch, in the model's memory layout."""
    x = normalise(images)
    return x.contiguous(memory_format=torch.channels_last) if config.channels_last else x


def autocast(config: RunConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for forward and loss when `config.amp`; otherwise no context at all (bit-identical to none)."""
    if not config.amp:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def make_optimizer(model: torch.nn.Module, config: RunConfig) -> tuple[torch.optim.Optimizer, object]:
    """The optimiser `config.optimizer` names, with its weight decay, and the cosine schedule (for all three)."""
    params, lr, decay = model.parameters(), config.lr, config.weight_decay
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=config.nesterov, weight_decay=decay)
    else:
        adam = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        optimizer = adam(params, lr=lr, betas=(0.9, 0.999), weight_decay=decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs, eta_min=config.eta_min)
    return optimizer, scheduler


def train_step(
    step_model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    labels: torch.Tensor,
    config: RunConfig,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on a prepared batch; (loss, logits), still on the device."""
    with autocast(config, device):  # no-op unless config.amp
        logits = step_model(x)
        loss = F.cross_entropy(logits, labels)  # float32 under autocast too
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def probe_step_seconds(config: RunConfig, steps: int = 3, warmup: int = 2) -> float:
    """Median wall time of a training step of `config` on its device, from random images (a first-step probe).

    Builds its own model and optimiser, so it touches nothing of a run; a few hundred ms on a CPU for VGG38.
    """
    device = resolve_device(config)
    model = build_model(config, device)
    optimizer, _ = make_optimizer(model, config)
    generator = torch.Generator(device=device)
    generator.manual_seed(0)
    images = torch.randint(
        0, 256, (config.batch_size, 3, 32, 32), generator=generator, device=device, dtype=torch.uint8
    )
    labels = torch.randint(0, 100, (config.batch_size,), generator=generator, device=device)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss, _ = train_step(model, optimizer, model_input(images, config), labels, config, device)
        loss.item()  # waits for the device
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split, config: RunConfig) -> tuple[float, float]:
    """(mean loss, accuracy) over a split, in eval mode; one sync."""
    model.eval()
    loss_sum = torch.zeros((), device=split.labels.device)
    correct = torch.zeros((), device=split.labels.device, dtype=torch.long)
    for start in range(0, len(split), EVAL_BATCH):
        images, labels = split.images[start : start + EVAL_BATCH], split.labels[start : start + EVAL_BATCH]
        with autocast(config, labels.device):
            logits = model(model_input(images, config))
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
    n = max(len(split), 1)
    return loss_sum.item() / n, correct.item() / n


@dataclass
class _Setup:
    """What one training run works with, built once by `_set_up`."""

    config: RunConfig
    device: torch.device
    data: Cifar100
    model: torch.nn.Module  # evaluation, gradient statistics and checkpoints use this one
    step_model: torch.nn.Module  # the training steps' view of `model`: itself, or torch.compile's wrapper
    optimizer: torch.optim.Optimizer
    scheduler: Any
    stats: GradientStats
    amplifier: Amplifier
    signal: ForwardSignal | None  # None: no forward signal or weight updates recorded (train(signals=False))
    updates: WeightUpdates | None
    steps_per_epoch: int
    params: int
    step_log: StepLog

    @property
    def signal_step(self) -> int:
        """The forward signal's batch: the epoch's last full one (0-based), or the first when none is full."""
        return max(len(self.data.train) // self.config.batch_size, 1) - 1


@dataclass
class _Best:
    """Resume state that outlives an epoch: where training starts, and the best val accuracy so far."""

    start_epoch: int = 1
    epoch: int | None = None
    val_acc: float = -1.0
    state: dict | None = None  # the best model's state dict
    epochs_since_gain: int = 0

    def update(self, epoch: int, val_acc: float, model: torch.nn.Module) -> None:
        if val_acc > self.val_acc:  # strictly greater, as the reference
            self.epoch, self.val_acc, self.epochs_since_gain = epoch, val_acc, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.epochs_since_gain += 1


@dataclass
class _Stop:
    """Why an epoch ended early: cancelled, or diverged at `diverged_step`."""

    status: str
    message: str
    diverged_step: int | None = None


def _set_up(config: RunConfig, data: Cifar100 | None, data_dir: str | Path | None, download: bool,
            signals: bool = True, on_points: Callable[[list[StepPoint]], None] | None = None) -> _Setup:  # fmt: skip
    device = resolve_device(config)
    if data is None:
        data = load_cifar100(data_dir or DEFAULT_DATA_DIR, device, config.subset, download)
    model = build_model(config, device)
    optimizer, scheduler = make_optimizer(model, config)
    # Training steps go through step_model; it shares its parameters with `model`, so state-dict keys never gain
    # torch.compile's `_orig_mod.` prefix.
    step_model = torch.compile(model) if config.compile else model
    steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
    return _Setup(
        config, device, data, model, step_model, optimizer, scheduler, GradientStats(model),
        Amplifier(model, config),  # no hooks unless config.grad_amp_factor != 1
        ForwardSignal(model) if signals else None, WeightUpdates(model) if signals else None,
        steps_per_epoch, count_parameters(model), StepLog(step_interval(config.step_every, steps_per_epoch), on_points),
    )  # fmt: skip


def _resume(run: _Setup, store: CheckpointStore, run_uuid: str | None) -> _Best:
    """The state to go on from: the store's last checkpoint, or a fresh start when it has none.

    Raises CheckpointMismatch for a checkpoint of another run (uuid or config differ). A checkpoint written before
    checkpoints carried `git_commit` resumes as well: nothing here reads it.
    """
    state = store.load(run.device)
    if state is None:
        return _Best()
    if state.get("run_uuid") != run_uuid or not same_config(state.get("config"), run.config):
        raise CheckpointMismatch(f"{store} belongs to another run (run uuid or config differ); it was not resumed")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.step_log.resume_at(state.get("train_seconds", 0.0))  # absent in checkpoints older than per-step curves
    log.info("resumed from %s at epoch %d", store, state["epoch"] + 1)
    return _Best(state["epoch"] + 1, state["best_epoch"], state["best_val_acc"], state["best_model"],
                 state["epochs_since_gain"])  # fmt: skip


def _train_epoch(
    run: _Setup,
    epoch: int,
    should_stop: Callable[[], bool] | None,
    on_step: Callable[[int, int], None] | None,
) -> tuple[torch.Tensor, torch.Tensor] | _Stop:
    """One pass over the shuffled, augmented train split: (loss sum, correct count), still on the device, or
    `_Stop` when `should_stop` says so or the loss became non-finite."""
    config, device, train_split = run.config, run.device, run.data.train
    run.model.train()
    run.stats.reset()
    run.step_log.start_epoch()
    run.amplifier.active = config.amplifies(epoch)
    if run.updates is not None:
        run.updates.start()
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed * 1_000_003 + epoch)
    order = torch.randperm(len(train_split), generator=generator, device=device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    first_bad_step = torch.full((), -1, device=device, dtype=torch.long)
    for step in range(run.steps_per_epoch):
        if should_stop is not None and should_stop():
            return _Stop("cancelled", f"cancelled during epoch {epoch}")
        idx = order[step * config.batch_size : (step + 1) * config.batch_size]
        labels = train_split.labels[idx]
        x = model_input(augment(train_split.images[idx], generator), config)  # (B, 3, 32, 32) float32
        lr = run.optimizer.param_groups[0]["lr"]  # the rate this step uses (a host float: no sync)
        signal_batch = run.signal is not None and step == run.signal_step  # the forward signal's batch
        with run.signal.recording() if signal_batch else contextlib.nullcontext():
            # A compiled graph runs no hooks added after it was built: the probed batch takes the eager model.
            loss, logits = train_step(run.model if signal_batch else run.step_model, run.optimizer, x, labels, config,
                                      device)  # fmt: skip
        if config.schedule == "iteration":
            run.scheduler.step()
        run.stats.update()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == labels).sum()
        global_step = (epoch - 1) * run.steps_per_epoch + step + 1
        bad_now = (~torch.isfinite(loss.detach())) & (first_bad_step < 0)
        first_bad_step = torch.where(bad_now, global_step, first_bad_step)
        run.step_log.record(step + 1, global_step, epoch, loss, lr)
        if (step + 1) % DIVERGENCE_CHECK_EVERY == 0 or step + 1 == run.steps_per_epoch:
            bad = int(first_bad_step.item())  # sync point, every DIVERGENCE_CHECK_EVERY steps
            run.step_log.flush()  # right after that sync: reads what is already computed
            if bad >= 0:
                return _Stop("diverged", f"loss became non-finite at step {bad}", bad)
        if on_step is not None:
            on_step(step + 1, run.steps_per_epoch)
    if config.schedule == "epoch":
        run.scheduler.step()
    return loss_sum, correct


def _epoch_metrics(
    run: _Setup, epoch: int, lr: float, totals: tuple[torch.Tensor, torch.Tensor], seconds_from: float
) -> EpochMetrics:
    """The epoch's train metrics (one sync each), val loss and accuracy, gradient statistics, weight updates and
    the forward signal (one sync each)."""
    n_train = len(run.data.train)
    train_loss, train_acc = totals[0].item() / n_train, totals[1].item() / n_train
    grads = run.stats.read()
    none = [None] * len(run.stats.labels)
    norms, ratios = run.updates.read() if run.updates is not None else (none, none)  # before eval: weights as trained
    signals = run.signal.read() if run.signal is not None else []
    val_loss, val_acc = evaluate(run.model, run.data.val, run.config)
    return EpochMetrics(
        epoch, run.config.epochs, train_loss, train_acc, val_loss, val_acc, lr, time.perf_counter() - seconds_from,
        [
            LayerGrad(i, label, grads["abs_mean_last"][i], grads["abs_mean_epoch"][i], grads["l2"][i], norms[i],
                      ratios[i])
            for i, label in enumerate(run.stats.labels)
        ],
        signals,
        steps=list(run.step_log.points),
    )  # fmt: skip


def _save_checkpoints(store: CheckpointStore, run: _Setup, best: _Best, metrics: EpochMetrics, run_uuid: str | None,
                      git_commit: str | None) -> None:  # fmt: skip
    """`last` holds the best model too, so that resume state is one atomic write; `best` is a copy for users.
    Both carry the config, the run's uuid and the commit of the code that trained it."""
    common = {"config": run.config.to_dict(), "run_uuid": run_uuid, "amplified_layers": run.amplifier.layers,
              "git_commit": git_commit}  # fmt: skip
    last = {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "epoch": metrics.epoch,
        "best_epoch": best.epoch,
        "best_val_acc": best.val_acc,
        "best_model": best.state,
        "epochs_since_gain": best.epochs_since_gain,
        "train_seconds": run.step_log.elapsed(),  # so that a resumed run's step times go on from here
        **common,
    }
    new_best = {"model": best.state, "epoch": metrics.epoch, **common} if best.epoch == metrics.epoch else None
    store.save(metrics, last, new_best)


def _result(run: _Setup, best: _Best, status: str, epochs_run: int, message: str,
            diverged_step: int | None = None) -> TrainResult:  # fmt: skip
    """The outcome; a completed run's best model is evaluated once on the test set."""
    test_loss = test_acc = None
    if status == "completed" and best.state is not None:
        run.model.load_state_dict(best.state)
        test_loss, test_acc = evaluate(run.model, run.data.test, run.config)
    return TrainResult(
        status, epochs_run, best.epoch, best.val_acc if best.epoch else None, test_loss, test_acc, diverged_step,
        run.params, str(run.device), message, run.amplifier.layers,
    )  # fmt: skip


def train(
    config: RunConfig,
    data: Cifar100 | None = None,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    checkpoint_dir: str | Path | None = None,
    checkpoints: CheckpointStore | None = None,
    resume: bool = False,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_points: Callable[[list[StepPoint]], None] | None = None,
    run_uuid: str | None = None,
    git_commit: str | None = None,
    signals: bool = True,
) -> TrainResult:
    """Train one run. See docs/architecture.md for the callbacks' contract.

    Checkpoints go to `checkpoints` (a vgp_models.checkpoints store), or `checkpoint_dir` as a shorthand for
    FileCheckpoints(checkpoint_dir). `on_epoch` is called before the store's save: a crash between the two
    repeats that epoch on resume (the caller's writes are idempotent) but never loses it. Checkpoints carry
    `run_uuid`, the config and `git_commit` (the code's, as the caller found it); resuming from one whose uuid
    or config differs raises CheckpointMismatch. `on_points` gets the per-step points (vgp_models.step_log) as they
    are read during an epoch; the epoch's points also come in its EpochMetrics.steps. `signals=False` records no
    forward signal or weight updates (EpochMetrics.signals empty, LayerGrad.weight_norm/update_ratio None): for the
    bench and the test that shows they change nothing else.
    """
    if checkpoint_dir is not None and checkpoints is not None:
        raise ValueError("give train() checkpoint_dir or checkpoints, not both")
    store = FileCheckpoints(checkpoint_dir) if checkpoint_dir is not None else checkpoints
    run = _set_up(config, data, data_dir, download, signals, on_points)
    best = _resume(run, store, run_uuid) if resume and store is not None else _Best()
    for epoch in range(best.start_epoch, config.epochs + 1):
        t0 = time.perf_counter()
        lr = run.optimizer.param_groups[0]["lr"]  # the rate at the epoch's first step
        totals = _train_epoch(run, epoch, should_stop, on_step)
        if isinstance(totals, _Stop):
            return _result(run, best, totals.status, epoch - 1, totals.message, totals.diverged_step)
        metrics = _epoch_metrics(run, epoch, lr, totals, t0)
        best.update(epoch, metrics.val_acc, run.model)
        if on_epoch is not None:
            on_epoch(metrics)
        if store is not None:
            _save_checkpoints(store, run, best, metrics, run_uuid, git_commit)
        if config.patience and best.epochs_since_gain >= config.patience:
            return _result(run, best, "completed", epoch, f"early stop: no val gain for {config.patience} epochs")
    return _result(run, best, "completed", config.epochs, "completed")
