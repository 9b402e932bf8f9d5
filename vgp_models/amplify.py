"""Gradient amplification (Basodi et al., 2020): in chosen epochs, the gradient flowing back through a chosen
share of a network's layers is multiplied by a factor.

Layers of one kind are candidates (`config.grad_amp_layers`): `activations`, every activation module (after
its BN where BN is on), or `convs`, every conv's output. `grad_amp_ratio` of them (at least one) are drawn
once from the run's seed, with numpy's generator so that torch's RNG (init, shuffle) is untouched, and the
draw is the same on every resume. A backward pre-hook on each chosen module multiplies the gradient of its
output before the module's own backward runs, so every gradient below it, and the gradient statistics
recorded for them, carry the factor (several chosen layers on one path multiply). The hooks exist only when
the factor is not 1, so that the default run is the reference's bit for bit.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from vgp_models.config import RunConfig
from vgp_models.vgg import ACTIVATIONS

ACTIVATION_TYPES = tuple({type(make()) for make in ACTIVATIONS.values()})


def candidates(model: nn.Module, kind: str) -> list[str]:
    """Names of the modules of `kind` (activations | convs), in registration (forward) order."""
    want = ACTIVATION_TYPES if kind == "activations" else (nn.Conv2d,)
    return [name for name, module in model.named_modules() if isinstance(module, want)]


def chosen_layers(model: nn.Module, config: RunConfig) -> list[str]:
    """The modules whose output gradient is amplified: a seeded draw of ratio x candidates (at least one)."""
    if config.grad_amp_factor == 1.0:
        return []
    names = candidates(model, config.grad_amp_layers)
    count = max(1, round(config.grad_amp_ratio * len(names)))
    picked = np.random.default_rng(config.seed).choice(len(names), size=count, replace=False)
    return [names[i] for i in sorted(picked)]


class Amplifier:
    """Backward pre-hooks on the chosen modules; `active` switches them per epoch (RunConfig.amplifies)."""

    def __init__(self, model: nn.Module, config: RunConfig) -> None:
        self.factor = config.grad_amp_factor
        self.layers = chosen_layers(model, config)
        self.active = False
        modules = dict(model.named_modules())
        for name in self.layers:  # they live as long as the model: one run
            modules[name].register_full_backward_pre_hook(self._hook)

    def _hook(self, module: nn.Module, grad_output: tuple) -> tuple | None:
        if not self.active:
            return None
        return tuple(None if g is None else g * self.factor for g in grad_output)
