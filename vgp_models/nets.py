"""The network a RunConfig names, and its weight initialisation: the one place that picks the architecture.

Init schemes (`config.init`), applied to every conv kernel and the linear weight after PyTorch's own init:
  default     PyTorch's (kaiming-uniform with a=sqrt(5), fan-in bias): the reference; nothing is redrawn
  kaiming     He et al.'s normal, fan-in, with the gain of `config.activation` (leaky ReLU: slope 0.01)
  xavier      Glorot's uniform, gain 1
  orthogonal  Saxe et al.'s orthogonal matrices (kernels flattened to out x in*kh*kw), gain 1
Every scheme but `default` sets conv and linear biases to zero. BN keeps gamma 1, beta 0 in all.
"""

from __future__ import annotations

import torch
from torch import nn

from vgp_models import registry
from vgp_models.config import ConfigError, RunConfig
from vgp_models.densenet import DenseNet
from vgp_models.vgg import LEAKY_SLOPE, VGG, count_parameters

# nn.init.calculate_gain's name and parameter for each activation; GELU has none there, ReLU's is near it.
KAIMING_GAIN = {"leaky_relu": ("leaky_relu", LEAKY_SLOPE), "relu": ("relu", None), "tanh": ("tanh", None),
                "gelu": ("relu", None), "selu": ("selu", None)}  # fmt: skip


def network(config: RunConfig) -> nn.Module:
    """The architecture alone, with PyTorch's default init (draws from torch's global RNG): VGG, DenseNet, or the
    builder registered under `config.arch` (vgp_models.registry)."""
    if config.arch in registry.BUILTIN:
        return DenseNet(config) if config.arch == "densenet" else VGG(config)
    model = registry.builder(config.arch)(config)
    if not isinstance(model, nn.Module):
        raise registry.RegistryError(
            f"architecture {config.arch!r}: its builder returned {type(model).__name__}, not an nn.Module"
        )
    return model


def init_weights(model: nn.Module, config: RunConfig) -> None:
    """Redraw conv and linear weights by `config.init` (from torch's global RNG); a no-op for `default`."""
    if config.init == "default":
        return
    nonlinearity, slope = KAIMING_GAIN[config.activation]
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, nn.Conv2d | nn.Linear):
                continue
            if config.init == "kaiming":
                nn.init.kaiming_normal_(module.weight, a=slope or 0, mode="fan_in", nonlinearity=nonlinearity)
            elif config.init == "xavier":
                nn.init.xavier_uniform_(module.weight)
            else:
                nn.init.orthogonal_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def meta_parameter_count(config: RunConfig) -> int:
    """The built model's parameter count, built on the meta device (shapes only, no memory)."""
    with torch.device("meta"):
        return count_parameters(network(config))


def architectures(base: dict) -> list[dict]:
    """Every architecture `--arch` takes, with its parameter count for `base` (a config dict; RunConfig's defaults
    when empty) on the meta device, and where it comes from: built in, or its registered module:function. An
    architecture that `base` does not validate for is left out."""
    registered = registry.registered()
    rows = []
    for arch in registry.names():
        try:
            config = RunConfig.from_dict({**base, "arch": arch})
        except ConfigError:  # `base` does not fit this one (densenet with residual on): left out
            continue
        rows.append({"arch": arch, "params": meta_parameter_count(config), "from": registered.get(arch, "built in")})
    return rows
