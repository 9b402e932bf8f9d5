"""Why the gradient vanishes: the forward signal per layer output, and how far each weight tensor moves.

Forward signal (`ForwardSignal`). Forward hooks on every conv, BN and activation module record, for one batch,
of the module's output:
  mean            over every element
  std             the input-dependent spread: each output element's standard deviation ACROSS THE BATCH's images
                  (population), as a root mean square over the elements (channels x positions). Not the std
                  over every element: at init a plain VGG38's reduction-block biases put a constant, different
                  per channel and at the borders, into every image's output, whose spread (~0.04) hides that the
                  output no longer depends on the input (its across-batch std falls below 1e-10).
  negative_share  the share of values < 0: of the output for a conv or BN, of the INPUT for an activation, i.e.
                  the share of pre-activations on the negative (leaky) side, which for ReLU is the share it zeroes.
Every module, not every block's output: within a block the conv is where the signal shrinks, BN is where it is
restored, and the activation is where it is cut, and the conv and BN rows carry the gradient flow's labels. A
block's output is its last activation's row.
Which batch: the epoch's last full training batch (a short last batch, possibly of one image, has no spread
across images), in train mode, with the weights before its own step. The hooks
exist only while `recording()` is open, around that one forward: no other step pays for them, nothing changes
the training (hooks only read), and the epoch costs no extra forward pass. A compiled model's graph would not
run hooks added later, so train.py runs that one batch through the eager model (the same parameters).
Labels: the module's name with dots as underscores (`block_0_1.conv_0` -> `block_0_1_conv_0`, as in the
gradient flow); rows in the order the modules ran (forward order); a module that runs twice counts once.
Statistics stay on the device; `read()` is the one host sync per epoch.

Weight updates (`WeightUpdates`). For every weight tensor of the gradient flow (gradstats.weight_parameters,
same order and labels): ||w|| at the epoch's end and ||w_end - w_start|| / ||w_start||, the relative update
over the epoch, from a copy of the weights taken at the epoch's start (on the device: one more copy of the
weights, not of the optimiser state). A tensor that starts at zero has no ratio (NaN).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from vgp_models.amplify import ACTIVATION_TYPES
from vgp_models.gradstats import weight_parameters
from vgp_models.metrics import LayerSignal

KINDS = ((nn.Conv2d, "conv"), (nn.modules.batchnorm._BatchNorm, "bn"), (ACTIVATION_TYPES, "act"))


def module_kind(module: nn.Module) -> str | None:
    """ "conv", "bn" or "act" for a module whose output the forward signal records; None for any other."""
    return next((kind for types, kind in KINDS if isinstance(module, types)), None)


def signal_of(values: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """(3,) on the device, in float32: the mean of `values`, their across-batch std (dim 0 is the batch; RMS over
    the other dims), and the share of `signs` < 0."""
    values = values.detach().float()
    std = values.var(dim=0, correction=0).mean().sqrt()
    negative = (signs.detach() < 0).float().mean()
    return torch.stack([values.mean(), std, negative])


class ForwardSignal:
    """The forward signal of one batch; `with probe.recording(): model(x)`, then `probe.read()`."""

    def __init__(self, model: nn.Module) -> None:
        self._modules = [(name.replace(".", "_"), m, kind) for name, m in model.named_modules()
                         if (kind := module_kind(m)) is not None]  # fmt: skip
        self.kinds: dict[str, str] = {}  # label -> conv | bn | act, of the rows `read()` returned last
        self._recorded: dict[str, torch.Tensor] = {}  # label -> (3,), in the order the modules ran

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Hooks on every recorded module for the forward passes inside the block (the first call of each
        module counts); removed on the way out."""
        self._recorded = {}
        handles = [m.register_forward_hook(self._hook(label, kind)) for label, m, kind in self._modules]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, label: str, kind: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if label not in self._recorded:
                self._recorded[label] = signal_of(output, args[0] if kind == "act" else output)

        return hook

    def read(self) -> list[LayerSignal]:
        """The recorded rows in forward order (one sync); [] when nothing was recorded."""
        if not self._recorded:
            return []
        kinds = {label: kind for label, _, kind in self._modules}
        self.kinds = {label: kinds[label] for label in self._recorded}
        values = torch.stack(list(self._recorded.values())).cpu().double().tolist()
        return [LayerSignal(i, label, mean, std, negative)
                for i, (label, (mean, std, negative)) in enumerate(zip(self._recorded, values))]  # fmt: skip


class WeightUpdates:
    """`start()` at an epoch's start, `read()` at its end: ||w_end|| and the relative update per weight tensor."""

    def __init__(self, model: nn.Module) -> None:
        labelled = weight_parameters(model)
        self.labels = [label for label, _ in labelled]
        self.params = [p for _, p in labelled]
        self._start: list[torch.Tensor] = []

    def start(self) -> None:
        with torch.no_grad():
            self._start = [p.detach().clone() for p in self.params]

    def read(self) -> tuple[list[float], list[float]]:
        """(weight_norm, update_ratio), each a list in label order (one sync)."""
        if not self._start:
            raise RuntimeError("WeightUpdates.read() before start()")
        with torch.no_grad():
            end = [p.detach() for p in self.params]
            norms = torch.stack(torch._foreach_norm(end))
            moved = torch.stack(torch._foreach_norm(torch._foreach_sub(end, self._start)))
            start = torch.stack(torch._foreach_norm(self._start))
            ratio = torch.where(start > 0, moved / start, torch.full_like(start, float("nan")))
            norm_list, ratio_list = torch.stack([norms, ratio]).cpu().double().tolist()
        return norm_list, ratio_list
