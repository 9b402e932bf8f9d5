"""The VGG family: exact parameter counts, gradient-flow labels in forward order, depths, config errors.

The numbers are experiment.md's (the course framework's actual networks at F = 32).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vgp_models.config import ConfigError, RunConfig
from vgp_models.gradstats import weight_labels, weight_parameters
from vgp_models.vgg import VGG, count_parameters

PARAMS = {
    "vgg08": 59_716,
    "vgg38": 336_196,
    "vgg38-rc": 336_196,
    "vgg38-bn": 338_500,
    "vgg38-bn-rc": 338_500,
    # future work: the parameter-free shortcut adds nothing; the 1x1 projection adds 3 x (32*32 + 2*32)
    "vgg38-bn-rc-avgpool": 338_500,
    "vgg38-bn-rc-conv1x1": 341_764,
    # one more BN processing block per stage is 2 * (9*32*32) + 2 * (2*32) = 18,560 parameters
    "vgg68-bn-rc": 338_500 + 15 * 18_560,
    "vgg74-bn-rc": 338_500 + 18 * 18_560,
}

VGG08_LABELS = [
    "input_conv_conv_0",
    "input_conv_bn_0",
    "reduction_block_0_conv_0",
    "reduction_block_0_conv_1",
    "reduction_block_1_conv_0",
    "reduction_block_1_conv_1",
    "reduction_block_2_conv_0",
    "reduction_block_2_conv_1",
    "logit_linear_layer",
]


def expected_labels(n_blocks: int, bn: bool) -> list[str]:
    """The reference's labels written out from experiment.md, independently of the model code."""
    units = ["conv_0", "bn_0", "conv_1", "bn_1"] if bn else ["conv_0", "conv_1"]
    labels = ["input_conv_conv_0", "input_conv_bn_0"]
    for s in range(3):
        for b in range(n_blocks):
            labels += [f"block_{s}_{b}_{u}" for u in units]
        labels += [f"reduction_block_{s}_{u}" for u in units]
    return labels + ["logit_linear_layer"]


@pytest.mark.parametrize("preset, params", PARAMS.items())
def test_parameter_counts_are_exact(preset: str, params: int) -> None:
    assert count_parameters(VGG(RunConfig.from_preset(preset))) == params


def test_vgg08_labels_are_the_reference_nine() -> None:
    assert weight_labels(VGG(RunConfig.from_preset("vgg08"))) == VGG08_LABELS


def test_vgg38_labels() -> None:
    labels = weight_labels(VGG(RunConfig.from_preset("vgg38")))
    assert len(labels) == 39
    assert labels[:4] == ["input_conv_conv_0", "input_conv_bn_0", "block_0_0_conv_0", "block_0_0_conv_1"]
    assert labels[-3:] == ["reduction_block_2_conv_0", "reduction_block_2_conv_1", "logit_linear_layer"]
    assert labels == expected_labels(5, bn=False)


def test_vgg38_bn_rc_labels() -> None:
    labels = weight_labels(VGG(RunConfig.from_preset("vgg38-bn-rc")))
    assert len(labels) == 75
    assert labels[:5] == [
        "input_conv_conv_0",
        "input_conv_bn_0",
        "block_0_0_conv_0",
        "block_0_0_bn_0",
        "block_0_0_conv_1",
    ]
    assert labels[-3:] == ["reduction_block_2_conv_1", "reduction_block_2_bn_1", "logit_linear_layer"]
    assert labels == expected_labels(5, bn=True)


@pytest.mark.parametrize("preset", ["vgg08", "vgg38-bn-rc", "vgg38-bn-rc-conv1x1"])
def test_labels_are_in_the_order_forward_uses_the_weights(preset: str) -> None:
    """Registration order is what gradstats reports; check it against the order of calls in forward()."""
    model = VGG(RunConfig.from_preset(preset, width=8))
    owner_label = {}
    for name, module in model.named_modules():
        if getattr(module, "weight", None) is not None:
            owner_label[module] = name.replace(".", "_")
    called: list[str] = []
    hooks = [m.register_forward_pre_hook(lambda m, _: called.append(owner_label[m])) for m in owner_label]
    model(torch.zeros(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert called == weight_labels(model)


@pytest.mark.parametrize("depth, n_labels", [(68, 135), (74, 147)])
def test_deeper_nets_build_and_run(depth: int, n_labels: int) -> None:
    model = VGG(RunConfig(depth=depth, width=8, batch_norm=True, residual=True))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)
    assert len(weight_labels(model)) == n_labels
    assert weight_labels(model) == expected_labels((depth - 8) // 6, bn=True)


@pytest.mark.parametrize("preset", ["vgg08", "vgg38", "vgg38-bn-rc-avgpool", "vgg38-bn-rc-conv1x1"])
def test_forward_shape(preset: str) -> None:
    model = VGG(RunConfig.from_preset(preset, width=8))
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 100)


def test_biases_as_the_reference() -> None:
    """Bias only in reduction-block convs and the linear layer; weights only what gradstats reports."""
    model = VGG(RunConfig.from_preset("vgg38-bn-rc", width=8))
    conv_biases = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.bias is not None}
    assert conv_biases == {f"reduction_block_{s}.{c}" for s in range(3) for c in ("conv_0", "conv_1")}
    assert [label for label, _ in weight_parameters(model)] == weight_labels(model)


def test_residual_block_adds_the_identity_before_the_last_activation() -> None:
    """With conv_1 zeroed, an RC block is LReLU(0 + x); without RC it is LReLU(0) = 0."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 32, 32)
    for residual, expected in ((True, F.leaky_relu(x, 0.01)), (False, torch.zeros_like(x))):
        block = VGG(RunConfig(depth=14, width=8, residual=residual)).block_0_0
        with torch.no_grad():
            block.conv_1.weight.zero_()
        torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize(
    "values",
    [
        {"depth": 9},
        {"depth": 70},
        {"depth": 38, "shortcut": "avgpool"},  # a reduction shortcut without residual connections
        {"lr": 0.0},
        {"lr": math.nan},
        {"lr": math.inf},
        {"lr": 11.0},
        {"batch_size": True},
        {"width": "32"},
        {"shortcut": "bottleneck", "residual": True},
        {"no_such_field": 1},
    ],
)
def test_invalid_configs_raise_one_line(values: dict) -> None:
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict(values)
    message = str(err.value)
    assert message and "\n" not in message


@pytest.mark.parametrize("key", ["\n", "a\nb", 3, None])
def test_unknown_keys_of_any_kind_give_one_line(key: object) -> None:
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict({key: 1, "depth": 8})
    assert "\n" not in str(err.value) and str(err.value).startswith("unknown config field(s): ")


def test_a_rate_below_the_schedule_floor_says_so() -> None:
    with pytest.raises(ConfigError, match=r"lr \(1e-05\) must be at least the schedule's floor eta_min \(2e-05\)"):
        RunConfig(lr=1e-5)
    assert RunConfig(lr=1e-5, eta_min=1e-6).lr == 1e-5


def test_unknown_preset_raises() -> None:
    with pytest.raises(ConfigError, match="unknown preset"):
        RunConfig.from_preset("vgg99")


def test_config_round_trips_through_a_dict() -> None:
    cfg = RunConfig.from_preset("vgg38-bn-rc", lr=1e-2, epochs=3)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.label == "VGG38 BN+RC"
