"""A run's size before anything is built: its exact parameter count and the activations one training step keeps,
in closed form from the config alone (no torch: the Launch form, the queue and the importer use it too).

Activations dominate a step's memory: every conv, BN and activation output of the forward pass stays alive until
backward, for each image of the batch, so they grow with depth x width x batch, and a DenseNet's concatenations
grow with the square of its layers per stage. `activation_bytes` counts those tensors (fp32), layer by layer, as
vgg.py and densenet.py build them; tests/test_memory.py holds it to what autograd really saves.

`check_memory` refuses a config over either budget in one line: parameters x batch (VGP_MAX_PARAMS_X_BATCH, for
weights, gradients and the optimiser's state) and activations (VGP_MAX_ACTIVATION_GB). A registered architecture
(vgp_models.registry) has no closed form: its parameters are counted on the meta device in a child process, and
its activations are not budgeted (nothing here knows its layers).
"""

from __future__ import annotations

import math
import os

from vgp_models import registry
from vgp_models.config import NUM_CLASSES, ConfigError, RunConfig

GROWTH_RATE = 9  # k: the feature maps each DenseNet layer adds (vgp_models.densenet builds with these two)
COMPRESSION = 0.5  # a DenseNet transition keeps this share of its input's maps
FLOAT_BYTES = 4  # fp32 activations (bf16 autocast keeps some in 2 bytes: the budget stays an upper bound)
KEEP_THEIR_INPUT = ("leaky_relu", "gelu", "selu")  # backward needs the input; ReLU and tanh keep their output
RESOLUTIONS = (32, 16, 8)  # each stage's map side: CIFAR's 32, halved by each reduction block or transition

DEFAULT_MAX_PARAMS_X_BATCH = 4e9  # VGG38 (3.4e5 parameters) up to batch ~11,000; depth 500 x width 1024 never
DEFAULT_MAX_ACTIVATION_GB = 16.0  # VGG38 BN+RC at batch 100 keeps 0.62 GB, VGG74 BN+RC 1.2 GB, at 1,000: 12 GB


def blocks_per_stage(depth: int) -> int:
    """N in depth = 8 + 6N: 0 for VGG08, 5 for VGG38."""
    return (depth - 8) // 6


def parameters(config: RunConfig) -> int:
    """The trainable parameters of `network(config)`, exactly (tests compare it with the built model)."""
    _known(config)
    f = config.width
    entry = 27 * f + 2 * f  # conv 3->F without bias, and its BN (in every variant)
    if config.arch == "densenet":
        return entry + _densenet_body_parameters(config)
    bn = 2 * f if config.batch_norm else 0  # a BatchNorm2d has weight and bias
    processing = 2 * 9 * f * f + 2 * bn  # two 3x3 convs without bias
    reduction = 2 * (9 * f * f + f) + 2 * bn + (f * f + bn if config.shortcut == "conv1x1" else 0)
    return entry + 3 * (blocks_per_stage(config.depth) * processing + reduction) + f * NUM_CLASSES + NUM_CLASSES


def _densenet_body_parameters(config: RunConfig) -> int:
    k, layers, total, channels = GROWTH_RATE, 2 * blocks_per_stage(config.depth) + 1, 0, config.width
    bn = 2 if config.batch_norm else 0  # per output channel
    for _ in RESOLUTIONS:
        # layer i: a 3x3 conv (channels + i k -> k) without bias; summed over i in closed form
        total += 9 * k * (layers * channels + k * layers * (layers - 1) // 2) + layers * bn * k
        block_out = channels + layers * k
        channels = int(COMPRESSION * block_out)
        total += block_out * channels + bn * channels  # the transition's 1x1 conv without bias, and its BN
    return total + channels * NUM_CLASSES + NUM_CLASSES


def activation_elements(config: RunConfig) -> int:
    """The numbers one image's forward pass keeps for backward: every conv, BN, activation, pooling, sum and
    concatenation output, and the input."""
    _known(config)
    f, unit = config.width, _unit(config)
    total = 3 * 32 * 32 + (unit + (0 if config.batch_norm else 1)) * f * 32 * 32  # the input; the stem has BN
    if config.arch == "densenet":
        return total + _densenet_activations(config, unit)
    n = blocks_per_stage(config.depth)
    for r in RESOLUTIONS:
        area, half = f * r * r, f * (r // 2) ** 2
        total += n * 2 * unit * area  # processing blocks (a residual sum replaces BN's output: as many tensors)
        total += unit * area + half * unit  # reduction: conv_0 unit at r; pool, conv_1, [bn_1], act_1 at r/2
        total += {"none": 0, "avgpool": 2, "conv1x1": unit}[config.shortcut] * half  # the shortcut and its sum
    return total + f + NUM_CLASSES  # the pooled features and the logits


def _known(config: RunConfig) -> None:
    # The closed forms follow vgg.py and densenet.py; an architecture added elsewhere needs its own, never VGG's.
    if config.arch not in ("vgg", "densenet"):
        raise ConfigError(f"no closed-form size for arch {config.arch!r}")


def _unit(config: RunConfig) -> int:
    """Tensors a conv -> [BN] -> act keeps: BN's input (the conv's output), the activation's input where its
    backward needs it, and its output (the next layer's input); a conv whose output nothing keeps, none."""
    return (1 if config.batch_norm else 0) + (1 if config.activation in KEEP_THEIR_INPUT else 0) + 1


def _densenet_activations(config: RunConfig, unit: int) -> int:
    k, layers, total, channels = GROWTH_RATE, 2 * blocks_per_stage(config.depth) + 1, 0, config.width
    for r in RESOLUTIONS:
        # layer i (1..L) keeps its conv unit's k maps (bar the activation's output when only the concatenation
        # needs it) and the concatenation of channels + i k maps
        dense_unit = unit - (1 if config.activation in KEEP_THEIR_INPUT else 0)
        total += (layers * dense_unit * k + layers * channels + k * layers * (layers + 1) // 2) * r * r
        channels = int(COMPRESSION * (channels + layers * k))
        total += channels * (unit * r * r + (r // 2) ** 2)  # the transition's 1x1 unit, then its pooling
    return total + channels + NUM_CLASSES


def activation_bytes(config: RunConfig) -> int:
    """The bytes of activations one training step of `config` keeps: per image, times the batch."""
    return FLOAT_BYTES * activation_elements(config) * config.batch_size


def budgets_from_env() -> tuple[float, float]:
    """(VGP_MAX_PARAMS_X_BATCH, VGP_MAX_ACTIVATION_GB) for `python -m vgp_models train` on a bare box; a worker
    reads them through worker.settings, which also checks their ranges at start."""
    budgets = []
    for name, default in (("VGP_MAX_PARAMS_X_BATCH", DEFAULT_MAX_PARAMS_X_BATCH),
                          ("VGP_MAX_ACTIVATION_GB", DEFAULT_MAX_ACTIVATION_GB)):  # fmt: skip
        raw = os.environ.get(name, "").strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number, got {raw[:40]!r}")
        budgets.append(value)
    return budgets[0], budgets[1]


def check_memory(config: RunConfig, max_params_x_batch: float, max_activation_gb: float) -> None:
    """ConfigError, one line, when `config` is over either budget; nothing is built to find out."""
    if config.arch not in registry.BUILTIN:
        try:
            params = registry.parameter_counts(config.to_dict())[config.arch]
        except registry.RegistryError as e:
            raise ConfigError(str(e)) from None
        _check_parameters(config, params, max_params_x_batch)
        return
    _check_parameters(config, parameters(config), max_params_x_batch)
    gb = activation_bytes(config) / 1e9
    if gb > max_activation_gb:
        raise ConfigError(
            f"{config.label} at batch {config.batch_size} keeps about {gb:.3g} GB of activations per step, over "
            f"this installation's budget of {max_activation_gb:g} GB (VGP_MAX_ACTIVATION_GB): "
            "lower the batch size, depth or width"
        )


def _check_parameters(config: RunConfig, params: int, max_params_x_batch: float) -> None:
    need = params * config.batch_size
    if need > max_params_x_batch:
        raise ConfigError(
            f"{config.label} has {params:.3g} parameters; x batch {config.batch_size} = {need:.3g}, "
            f"over this installation's budget of {max_params_x_batch:.3g} (VGP_MAX_PARAMS_X_BATCH): "
            "lower the width, depth or batch size"
        )
