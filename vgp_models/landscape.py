"""The loss landscape around a net's weights (Li, Xu, Taylor, Studer and Goldstein, NeurIPS 2018, "Visualizing the
Loss Landscape of Neural Nets"): train loss and accuracy at theta + alpha d1 (+ beta d2) on a grid of (alpha, beta).

Directions, as the paper's: Gaussian, drawn from a CPU generator seeded by `LandscapeConfig.seed` (the same on every
device), one tensor per parameter in registration order, then filter-normalised: each filter of each conv and
linear weight (its slice along the first dimension: an output channel, or a row) is scaled to the norm of the same
filter of the weights theta. Biases and BatchNorm's gamma and beta (every 1-D parameter) get a zero direction: the
paper's `ignore='biasbn'`, which keeps them at theta. d2 is drawn after d1 from the same generator, so a 1D slice
runs along the d1 of the 2D grid of the same seed.

Evaluation: the first `images` images of the coursework's training split, un-augmented, in eval mode, the mean
cross-entropy and the accuracy (vgp_models.train.evaluate, bf16 autocast with `amp`). BatchNorm normalises with
running statistics that stay fixed over the grid: a checkpoint's own; for a fresh net, statistics estimated once
at the centre from the same images (a train-mode pass, every batch weighted alike), because the running statistics
of a fresh net (mean 0, variance 1) are not what its BN layers would normalise with.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vgp_models.config import ConfigError, RunConfig
from vgp_models.data import Cifar100, Split
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.train import EVAL_BATCH, build_model, evaluate, model_input

POINT_COLUMNS = ("i", "j", "alpha", "beta", "loss", "acc")


@dataclass
class LandscapePoint:
    """One grid point: indices, coordinates (beta None in 1D), mean train loss (NaN if not finite) and accuracy."""

    i: int
    j: int
    alpha: float
    beta: float | None
    loss: float
    acc: float
    seconds: float = 0.0  # its evaluation's wall time


def filter_normalised(weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
    """A Gaussian direction for `weight` with each filter scaled to that filter's norm; None (zero) for a 1-D
    parameter (a bias, a BN gamma or beta)."""
    if weight.dim() <= 1:
        return None
    d = torch.randn(weight.shape, generator=generator, dtype=torch.float32)
    w = weight.detach().float().cpu().reshape(weight.shape[0], -1)
    flat = d.reshape(d.shape[0], -1)
    flat.mul_(w.norm(dim=1, keepdim=True) / (flat.norm(dim=1, keepdim=True) + 1e-10))
    return d.to(device=weight.device, dtype=weight.dtype)


def directions(model: nn.Module, dims: int, seed: int) -> list[list[torch.Tensor | None]]:
    """`dims` filter-normalised directions, each a list with one entry per parameter of `model` (None: zero)."""
    generator = torch.Generator().manual_seed(seed)
    params = list(model.parameters())
    return [[filter_normalised(p, generator) for p in params] for _ in range(dims)]


def walk(
    config: LandscapeConfig,
    model: nn.Module,
    evaluate_fn: Callable[[nn.Module], tuple[float, float]],
    on_point: Callable[[LandscapePoint, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[LandscapePoint]:
    """Evaluate `evaluate_fn(model)` -> (loss, acc) at every point of `config.grid()` around `model`'s weights,
    which are restored afterwards. `on_point(point, done, total)` after each point; `should_stop()` before each:
    True ends the walk early with the points done so far."""
    dirs = directions(model, config.dims, config.seed)
    params = list(model.parameters())
    centre = [p.detach().clone() for p in params]
    plan = config.grid()
    points = []
    try:
        for done, (i, j, alpha, beta) in enumerate(plan, start=1):
            if should_stop is not None and should_stop():
                break
            t0 = time.perf_counter()
            with torch.no_grad():
                for k, (p, c) in enumerate(zip(params, centre)):
                    if dirs[0][k] is None:
                        continue
                    target = c + alpha * dirs[0][k]
                    p.copy_(target if beta is None else target.add_(dirs[1][k], alpha=beta))
            loss, acc = evaluate_fn(model)
            point = LandscapePoint(i, j, alpha, beta, loss if math.isfinite(loss) else math.nan, acc,
                                   time.perf_counter() - t0)  # fmt: skip
            points.append(point)
            if on_point is not None:
                on_point(point, done, len(plan))
    finally:
        with torch.no_grad():
            for p, c in zip(params, centre):
                p.copy_(c)
    return points


@torch.no_grad()
def calibrate_batch_norm(model: nn.Module, split: Split, config: RunConfig) -> None:
    """Set every BatchNorm's running statistics to the cumulative mean over `split`'s batches (momentum None),
    in train mode, without gradients; the model is left in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for start in range(0, len(split), EVAL_BATCH):
        model(model_input(split.images[start : start + EVAL_BATCH], config))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    model.eval()


def load_checkpoint_file(path: Path, device: torch.device) -> dict:
    """A checkpoint file's state, loaded with weights_only (it can run no code); ConfigError (one line) when the
    file is missing or not such a checkpoint."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 (torch raises pickle's, zipfile's and its own errors here)
        raise ConfigError(f"{path}: not a checkpoint that loads with weights_only ({type(e).__name__})") from None


def checkpoint_config(state: Any, where: str) -> RunConfig:
    """The RunConfig a checkpoint state carries; ConfigError (one line) naming `where` when it has none."""
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ConfigError(f"{where} holds no model weights (a VGP Lab checkpoint: best.pt or last.pt)")
    if not isinstance(state.get("config"), dict):
        raise ConfigError(f"{where} holds no run config; it was not written by VGP Lab")
    return RunConfig.from_dict(state["config"])


def landscape_model(run_config: RunConfig, state: dict | None, data: Cifar100, device: torch.device) -> nn.Module:
    """The net at the centre, in eval mode: `state["model"]`'s weights, or a fresh net of `run_config` (its seed's
    init) with BN statistics from the landscape's images."""
    model = build_model(run_config, device)
    if state is not None:
        model.load_state_dict(state["model"])
    else:
        calibrate_batch_norm(model, data.train, run_config)
    return model.eval()


def measure_landscape(
    config: LandscapeConfig,
    run_config: RunConfig,
    state: dict | None,
    data: Cifar100,
    device: torch.device,
    on_point: Callable[[LandscapePoint, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[LandscapePoint]:
    """The landscape of `config` around `state` (a checkpoint) or a fresh net of `run_config` (state None), on
    `data.train` (already the first `config.images` images, on `device`)."""
    if len(data.train) == 0:
        raise ConfigError("the training split is empty; a landscape needs training images")
    model = landscape_model(run_config, state, data, device)
    eval_config = RunConfig.from_dict({**run_config.to_dict(), "amp": config.amp})
    return walk(config, model, lambda m: evaluate(m, data.train, eval_config), on_point, should_stop)


def point_rows(points: list[LandscapePoint]) -> list[dict[str, Any]]:
    """Every point as a plain row (POINT_COLUMNS), for CSV files; a non-finite loss is an empty cell."""
    return [{"i": p.i, "j": p.j, "alpha": p.alpha, "beta": "" if p.beta is None else p.beta,
             "loss": p.loss if math.isfinite(p.loss) else "", "acc": p.acc} for p in points]  # fmt: skip
