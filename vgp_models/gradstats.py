"""Gradient statistics per weight tensor: the report's gradient flow (Figures 2, 3 and 5).

Which tensors: every parameter whose name ends in `weight` (conv kernels, BN gammas, the linear weight),
in forward order; biases and BN betas are excluded, as in the reference. Label: the parameter name with
dots as underscores and the `.weight` suffix dropped (`block_0_1.conv_0.weight` -> `block_0_1_conv_0`).

The three statistics, each defined here only:
  abs_mean_last   mean over the tensor's elements of |grad|, from the epoch's LAST batch (the report's value)
  abs_mean_epoch  the same mean |grad|, averaged over all the epoch's batches
  l2              the L2 norm of the gradient, from the epoch's last batch
Everything stays on the device; `GradientStats.read()` is the one host sync, once per epoch.
"""

from __future__ import annotations

import torch
from torch import nn


def weight_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(label, parameter) for every weight tensor, in forward (registration) order."""
    return [
        (name.removesuffix(".weight").replace(".", "_"), p)
        for name, p in model.named_parameters()
        if name.endswith("weight") and p.requires_grad
    ]


def weight_labels(model: nn.Module) -> list[str]:
    return [label for label, _ in weight_parameters(model)]


def grad_abs_mean(params: list[nn.Parameter], numel: torch.Tensor | None = None) -> torch.Tensor:
    """(L,) mean |grad| per tensor, on the device: L1 norm / numel, one foreach kernel for all tensors.

    `numel` (L,) may be passed in, precomputed on the device, to save building it every step.
    """
    grads = [p.grad for p in params]
    l1 = torch.stack(torch._foreach_norm(grads, 1))
    if numel is None:
        numel = torch.tensor([g.numel() for g in grads], dtype=l1.dtype, device=l1.device)
    return l1 / numel


def grad_l2(params: list[nn.Parameter]) -> torch.Tensor:
    """(L,) L2 norm of each tensor's gradient, on the device."""
    return torch.stack(torch._foreach_norm([p.grad for p in params], 2))


class GradientStats:
    """Accumulates one epoch's statistics on the device; call `update()` after every backward."""

    def __init__(self, model: nn.Module) -> None:
        labelled = weight_parameters(model)
        self.labels = [label for label, _ in labelled]
        self.params = [p for _, p in labelled]
        self._numel = torch.tensor([p.numel() for p in self.params], dtype=torch.float32, device=self.params[0].device)
        self.reset()

    def reset(self) -> None:
        self._sum_abs_mean: torch.Tensor | None = None
        self._last_abs_mean: torch.Tensor | None = None
        self._last_l2: torch.Tensor | None = None
        self._batches = 0

    def update(self) -> None:
        abs_mean = grad_abs_mean(self.params, self._numel)
        self._sum_abs_mean = abs_mean if self._sum_abs_mean is None else self._sum_abs_mean + abs_mean
        self._last_abs_mean = abs_mean
        self._last_l2 = grad_l2(self.params)
        self._batches += 1

    def read(self) -> dict[str, list[float]]:
        """Host copies: abs_mean_last, abs_mean_epoch and l2, each a list in label order (one sync)."""
        if not self._batches:
            raise RuntimeError("no batch was recorded this epoch")
        stacked = torch.stack([self._last_abs_mean, self._sum_abs_mean / self._batches, self._last_l2]).cpu()
        last, epoch, l2 = stacked.double().tolist()
        return {"abs_mean_last": last, "abs_mean_epoch": epoch, "l2": l2}
