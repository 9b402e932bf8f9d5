"""The cures for vanishing gradients beyond BN and RC (issue 11): init, activation, optimiser, gradient
amplification and the DenseNet. Each option does what it says, and the defaults are the reference's, bit for bit.
"""

from __future__ import annotations

import hashlib
import math
import tempfile

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.train_support import colour_classes
from vgp_models import registry
from vgp_models.amplify import Amplifier, candidates, chosen_layers
from vgp_models.config import ConfigError, RunConfig
from vgp_models.cures import CURES
from vgp_models.data import Cifar100
from vgp_models.gradstats import weight_labels, weight_parameters
from vgp_models.nets import network
from vgp_models.train import build_model, make_optimizer, train
from vgp_models.vgg import count_parameters

# Recorded with the code before these options existed (commit 26edc16) and torch 2.14.1: per epoch the train
# loss, val loss and input layer's mean |grad| as float.hex(), and a digest of the final state dict. Another
# CPU (another SIMD path: AMD EPYC here, 2026-12-03) rounds the last bits of a sum differently, so the numbers
# are compared to 1e-5 relative (a changed default moves them by far more) and the digest only where it can hold.
BEFORE = {
    "vgg38": (
        [
            ("0x1.22ecbc0000000p+2", "0x1.2329ba0000000p+2", "0x1.761c880000000p-58"),
            ("0x1.225c900000000p+2", "0x1.22c2c60000000p+2", "0x1.a3c8320000000p-57"),
        ],
        "1e71452649fc0d6e",
    ),
    "vgg14": (
        [
            ("0x1.1d9f080000000p+2", "0x1.24b8a20000000p+2", "0x1.dd14780000000p-5"),
            ("0x1.0e90c20000000p+2", "0x1.21d96e0000000p+2", "0x1.2444c00000000p-4"),
        ],
        "8379a0d7bcd01f86",
    ),
}
BEFORE_CONFIGS = {
    "vgg38": dict(depth=38, width=8),
    "vgg14": dict(depth=14, width=8, batch_norm=True, residual=True, shortcut="conv1x1", weight_decay=1e-4,
                  schedule="iteration"),
}  # fmt: skip


def digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", BEFORE)
def test_defaults_train_exactly_as_before_the_options(name: str) -> None:
    data = Cifar100(colour_classes(128, 0), colour_classes(32, 1), colour_classes(32, 2))
    config = RunConfig(**BEFORE_CONFIGS[name], lr=1e-3, batch_size=32, epochs=2, device="cpu")
    metrics = []
    with tempfile.TemporaryDirectory() as folder:
        train(config, data, checkpoint_dir=folder, on_epoch=metrics.append)
        state = torch.load(f"{folder}/last.pt", weights_only=True)["model"]
    got = [(m.train_loss, m.val_loss, m.grads[0].abs_mean_last) for m in metrics]
    recorded, recorded_digest = BEFORE[name]
    assert got == [pytest.approx(tuple(float.fromhex(x) for x in epoch), rel=1e-5) for epoch in recorded]
    if [tuple(x.hex() for x in epoch) for epoch in got] == recorded:  # bit for bit on the recording CPU
        assert digest(state) == recorded_digest


# ---- init ----------------------------------------------------------------------------------------


def conv_weight(config: RunConfig) -> torch.Tensor:
    return build_model(config).block_0_0.conv_0.weight.detach()


def test_kaiming_init_has_he_std_and_zero_biases() -> None:
    config = RunConfig(depth=14, width=64, init="kaiming")
    fan_in = 64 * 9
    want = math.sqrt(2 / (1 + 0.01**2)) / math.sqrt(fan_in)  # leaky ReLU's gain over sqrt(fan_in)
    assert conv_weight(config).std().item() == pytest.approx(want, rel=0.03)
    default_std = conv_weight(RunConfig(depth=14, width=64)).std().item()
    assert default_std == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.03)  # kaiming-uniform a=sqrt(5)
    model = build_model(config)
    assert all(torch.count_nonzero(m.bias) == 0 for m in model.modules()
               if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None)  # fmt: skip


def test_xavier_and_orthogonal_inits() -> None:
    w = conv_weight(RunConfig(depth=14, width=64, init="xavier"))
    bound = math.sqrt(6 / (64 * 9 + 64 * 9))
    assert w.abs().max().item() <= bound and w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    flat = conv_weight(RunConfig(depth=14, width=64, init="orthogonal")).flatten(1)  # 64 x 576: orthonormal rows
    assert torch.allclose(flat @ flat.T, torch.eye(64), atol=1e-5)


# ---- activation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kind", [("leaky_relu", nn.LeakyReLU), ("relu", nn.ReLU), ("tanh", nn.Tanh),
                                        ("gelu", nn.GELU), ("selu", nn.SELU)])  # fmt: skip
def test_activation_is_every_activation_and_labels_stay(name: str, kind: type) -> None:
    reference = network(RunConfig(depth=14, width=8, batch_norm=True))
    model = network(RunConfig(depth=14, width=8, batch_norm=True, activation=name))
    acts = [m for n, m in model.named_modules() if n.endswith(("act_0", "act_1"))]
    assert len(acts) == 1 + 2 * 3 * 2 and all(type(m) is kind for m in acts)
    assert weight_labels(model) == weight_labels(reference)
    x = torch.randn(2, 3, 32, 32)
    block = model.input_conv
    assert torch.equal(block(x), kind()(block.bn_0(block.conv_0(x))) if name != "leaky_relu"
                       else F.leaky_relu(block.bn_0(block.conv_0(x)), 0.01))  # fmt: skip


# ---- optimiser -----------------------------------------------------------------------------------


def test_optimizer_class_and_its_settings() -> None:
    model = nn.Linear(2, 2)
    adam, _ = make_optimizer(model, RunConfig(weight_decay=1e-4))
    adamw, _ = make_optimizer(model, RunConfig(optimizer="adamw", weight_decay=1e-4))
    sgd, schedule = make_optimizer(model, RunConfig(optimizer="sgd", nesterov=True, weight_decay=1e-4, epochs=10))
    assert type(adam) is torch.optim.Adam and type(adamw) is torch.optim.AdamW and type(sgd) is torch.optim.SGD
    assert all(o.defaults["weight_decay"] == 1e-4 for o in (adam, adamw, sgd))
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["nesterov"] is True
    assert type(schedule) is torch.optim.lr_scheduler.CosineAnnealingLR and schedule.T_max == 10


# ---- gradient amplification ----------------------------------------------------------------------


def grads_after_one_backward(config: RunConfig, active: bool) -> dict[str, torch.Tensor]:
    model = build_model(config)
    amplifier = Amplifier(model, config)
    amplifier.active = active
    g = torch.Generator().manual_seed(1)
    x, labels = torch.randn(4, 3, 32, 32, generator=g), torch.randint(0, 100, (4,), generator=g)
    F.cross_entropy(model(x), labels).backward()
    return {label: p.grad.clone() for label, p in weight_parameters(model)}


def test_an_amplified_layer_gets_exactly_factor_times_the_gradient() -> None:
    # VGG14 without residuals: one path, so every weight below the one amplified activation gets x4 exactly
    config = RunConfig(depth=14, width=8, grad_amp_factor=4.0, grad_amp_ratio=0.01, seed=3)
    (layer,) = chosen_layers(network(config), config)
    plain, amplified = grads_after_one_backward(config, False), grads_after_one_backward(config, True)
    labels = list(plain)
    owner, act = layer.rsplit(".", 1)  # e.g. 'block_1_0', 'act_0': act_0 follows conv_0 (and bn_0), act_1 conv_1
    owner = owner.replace(".", "_")
    inside = [i for i, name in enumerate(labels) if name.startswith(owner + "_") and name[-1] <= act[-1]]
    below = labels[: max(inside) + 1]
    for name in labels:
        want = plain[name] * 4.0 if name in below else plain[name]
        assert torch.equal(amplified[name], want), name
    assert not torch.equal(amplified["input_conv_conv_0"], plain["input_conv_conv_0"])
    assert torch.equal(amplified["logit_linear_layer"], plain["logit_linear_layer"])


def test_amplification_hooks_work_on_the_densenet() -> None:
    config = RunConfig(arch="densenet", depth=14, width=8, grad_amp_factor=8.0, grad_amp_ratio=1.0)
    plain, amplified = grads_after_one_backward(config, False), grads_after_one_backward(config, True)
    assert torch.equal(amplified["logit_linear_layer"], plain["logit_linear_layer"])
    assert torch.equal(amplified["transition_2_conv_0"], plain["transition_2_conv_0"] * 8.0)  # one act above it
    assert (amplified["input_conv_conv_0"].abs().mean() > 8.0**3 * plain["input_conv_conv_0"].abs().mean()).item()


def test_amplified_layers_are_a_seeded_share_of_one_kind() -> None:
    model = network(RunConfig(depth=38, batch_norm=True))
    config = RunConfig(depth=38, batch_norm=True, grad_amp_factor=2.0, grad_amp_ratio=0.25, seed=5)
    acts, convs = candidates(model, "activations"), candidates(model, "convs")
    assert len(acts) == 1 + 2 * 18 and len(convs) == 37
    chosen = chosen_layers(model, config)
    assert len(chosen) == round(0.25 * 37) and set(chosen) <= set(acts) and chosen == chosen_layers(model, config)
    assert chosen != chosen_layers(model, RunConfig(**{**config.to_dict(), "seed": 6}))
    as_convs = chosen_layers(model, RunConfig(**{**config.to_dict(), "grad_amp_layers": "convs"}))
    assert set(as_convs) <= set(convs)
    assert chosen_layers(model, RunConfig(depth=38, batch_norm=True)) == []  # factor 1: off, no hooks


def test_amplified_epochs() -> None:
    def epochs(spec: str) -> list[int]:
        config = RunConfig(grad_amp_factor=2.0, grad_amp_epochs=spec)
        return [e for e in range(1, 8) if config.amplifies(e)]

    assert epochs("all") == [1, 2, 3, 4, 5, 6, 7]
    assert epochs("first:3") == [1, 2, 3]
    assert epochs("alternate") == [1, 3, 5, 7]
    assert not RunConfig().amplifies(1)


def test_amplification_is_recorded_and_shows_in_the_gradient_statistics() -> None:
    data = Cifar100(colour_classes(64, 0), colour_classes(32, 1), colour_classes(32, 2))
    base = dict(depth=14, width=8, batch_size=32, epochs=2, device="cpu", seed=2)
    plain: list = []
    train(RunConfig(**base), data, on_epoch=plain.append)
    amplified: list = []
    config = RunConfig(**base, grad_amp_factor=1000.0, grad_amp_ratio=1.0, grad_amp_epochs="first:1")
    result = train(config, data, on_epoch=amplified.append)
    assert result.amplified_layers == candidates(network(config), "activations")
    # epoch 1 amplified: 13 activations on the input layer's path, so its gradient is far larger
    assert amplified[0].grads[0].abs_mean_last > 1e6 * plain[0].grads[0].abs_mean_last
    assert amplified[0].grads[-1].abs_mean_last == pytest.approx(plain[0].grads[-1].abs_mean_last, rel=1e-4)


# ---- DenseNet ------------------------------------------------------------------------------------


def densenet_labels(layers: int, bn: bool) -> list[str]:
    """Written out from densenet.py's docstring, independently of the model code."""
    units = ["conv_0", "bn_0"] if bn else ["conv_0"]
    labels = ["input_conv_conv_0", "input_conv_bn_0"]
    for s in range(3):
        labels += [f"dense_block_{s}_layer_{i}_{u}" for i in range(layers) for u in units]
        labels += [f"transition_{s}_{u}" for u in units]
    return labels + ["logit_linear_layer"]


@pytest.mark.parametrize("bn, params, n_labels", [(False, 328_055, 39), (True, 329_123, 75)])
def test_densenet38_size_and_labels(bn: bool, params: int, n_labels: int) -> None:
    model = network(RunConfig(arch="densenet", depth=38, batch_norm=bn))
    assert count_parameters(model) == params  # VGG38: 336,196 (338,500 with BN)
    assert weight_labels(model) == densenet_labels(11, bn) and len(weight_labels(model)) == n_labels
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_densenet_labels_are_in_forward_order() -> None:
    model = network(RunConfig(arch="densenet", depth=14, width=8, batch_norm=True))
    order: list[str] = []
    names = {id(p): label for label, p in weight_parameters(model)}
    hooks = [m.register_forward_pre_hook(lambda m, _: order.extend(names[id(p)] for p in m.parameters(False)
                                                                   if id(p) in names))
             for m in model.modules()]  # fmt: skip
    model(torch.randn(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert order == weight_labels(model)


def test_densenet_layers_see_every_earlier_map() -> None:
    model = network(RunConfig(arch="densenet", depth=14, width=8))
    widths = [layer.conv_0.in_channels for layer in model.dense_block_0.children()]
    assert widths == [8, 17, 26] and model.transition_0.conv_0.in_channels == 35


# ---- the config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values, message",
    [
        ({"init": "he"}, "init must be one of default, kaiming, xavier, orthogonal, got 'he'"),
        ({"activation": "swish"}, "activation must be one of leaky_relu, relu, tanh, gelu, selu, got 'swish'"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of adam, adamw, sgd, got 'rmsprop'"),
        ({"nesterov": True}, "nesterov applies to optimizer sgd only, got optimizer 'adam'"),
        ({"grad_amp_factor": 0.5}, "grad_amp_factor must be between 1 and 1000, got 0.5"),
        ({"grad_amp_ratio": 0.0}, "grad_amp_ratio must be a finite number in (0, 1], got 0.0"),
        ({"grad_amp_epochs": "first:0"}, "grad_amp_epochs must be all, alternate or first:N (N from 1), got 'first:0'"),
        ({"grad_amp_layers": "bn"}, "grad_amp_layers must be one of activations, convs, got 'bn'"),
        ({"arch": "resnet"}, f"arch must be one of {', '.join(registry.names())} (architectures register on the host: "
                             "VGP_ARCHITECTURES or a plugin), got 'resnet'"),
        ({"arch": "densenet", "residual": True}, "densenet has dense connections: residual and shortcut apply to "
                                                 "arch vgg only"),
        ({"grad_amp_factor": 2.0, "compile": True}, "gradient amplification's backward hooks need compile off"),
    ],
)  # fmt: skip
def test_bad_cure_settings_are_one_line(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict(values)
    assert str(err.value) == message


def test_a_config_stored_before_the_options_loads_with_their_defaults() -> None:
    old = {
        k: v
        for k, v in RunConfig(depth=38).to_dict().items()
        if k not in ("arch", "init", "activation", "optimizer", "nesterov") and not k.startswith("grad_amp")
    }
    assert RunConfig.from_dict(old) == RunConfig(depth=38)


def test_labels_name_every_cure() -> None:
    assert RunConfig(depth=38).label == "VGG38"
    assert RunConfig(depth=38, init="kaiming", activation="relu", optimizer="sgd").label == "VGG38 Kaiming ReLU SGD"
    assert RunConfig(depth=38, arch="densenet", batch_norm=True).label == "DenseNet38 BN"
    amp = RunConfig(depth=38, grad_amp_factor=2.0, grad_amp_ratio=0.25, grad_amp_epochs="first:5")
    assert amp.label == "VGG38 GradAmp x2 25% activations first:5"


def test_every_cure_is_a_valid_vgg38_variant() -> None:
    labels = {name: RunConfig.from_preset("vgg38", **overrides).label for name, overrides in CURES.items()}
    assert len(set(labels.values())) == len(CURES) and labels["none"] == "VGG38"
    for name in ("Kaiming", "ReLU", "SGD", "DenseNet"):
        assert any(name in label for label in labels.values()), name
    assert any("GradAmp" in label for label in labels.values())
