"""dashboard.cost: a launch's wall time from what was measured (per architecture, device and precision; scaled by
images), with a line saying how the number was made, and "unknown" only when nothing related was measured."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import cost
from vgp_models.config import RunConfig
from vgp_models.provenance import parameter_count


def frames(*runs: tuple[str, dict, float, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(preset, overrides, seconds per epoch, epochs) per run, on cpu: a runs frame and its epochs frame."""
    rows, epochs = [], []
    for i, (preset, overrides, seconds, n) in enumerate(runs, start=1):
        rows.append(dict(id=i, device="cpu", config=RunConfig.from_preset(preset, **overrides).to_dict()))
        epochs += [dict(run_id=i, epoch=e, seconds=seconds) for e in range(1, n + 1)]
    return pd.DataFrame(rows[::-1]), pd.DataFrame(epochs)


def config(preset: str, **overrides) -> dict:
    return RunConfig.from_preset(preset, **overrides).to_dict()


SMOKE = dict(subset=2000, amp=True, epochs=2)  # 2,000 train and 2,000 validation images an epoch, bf16
SMOKE_IMAGES = 2000 + 2000 / 3


def test_a_smoke_run_in_bf16_estimates_a_full_run_in_bf16_scaled_by_images():
    measured = cost.measurements(*frames(("vgg38", SMOKE, 10.0, 2), ("vgg38", SMOKE, 14.0, 2)))
    rate = 48.0 / (4 * SMOKE_IMAGES)  # every epoch of both runs, pooled
    found = cost.estimate([config("vgg38", amp=True, epochs=100)], measured, "cpu")
    assert found.seconds == pytest.approx(rate * (47_500 + 2_500 / 3) * 100)
    assert found.basis == "from 2 runs of VGG38 in bf16 on cpu, scaled to 47,500 training images an epoch"


def test_the_other_precision_stands_in_and_says_so():
    measured = cost.measurements(*frames(("vgg08", SMOKE, 6.0, 2)))
    found = cost.estimate([config("vgg08", epochs=1, subset=2000)], measured, "cpu")  # fp32 asked
    assert found.seconds == pytest.approx(6.0)
    assert found.basis == (
        "from 1 run of VGG08 in bf16, fp32 not measured on cpu, scaled to 2,000 training images an epoch"
    )
    both = cost.measurements(*frames(("vgg08", SMOKE, 6.0, 2), ("vgg08", dict(SMOKE, amp=False), 9.0, 1)))
    assert cost.estimate([config("vgg08", epochs=1, subset=2000)], both, "cpu").seconds == pytest.approx(9.0)


def test_another_architecture_on_the_device_is_scaled_by_parameters():
    measured = cost.measurements(*frames(("vgg08", dict(subset=2000, epochs=1), 6.0, 1)))
    target = config("vgg38", epochs=1, subset=2000)
    found = cost.estimate([target], measured, "cpu")
    ratio = parameter_count(RunConfig.from_dict(target)) / parameter_count(RunConfig.from_preset("vgg08"))
    assert found.seconds == pytest.approx(6.0 * ratio)
    assert "1 run of VGG08 scaled by parameters to VGG38" in found.basis


def test_unknown_only_when_nothing_was_measured_on_the_device():
    measured = cost.measurements(*frames(("vgg08", SMOKE, 6.0, 2)))
    assert cost.estimate([config("vgg08")], measured, "cuda") is None
    assert cost.estimate([config("vgg08")], {}, "cpu") is None
    assert cost.estimate([config("vgg08")], measured, None) is None
    assert cost.measurements(*frames(("vgg08", SMOKE, float("nan"), 1))) == {}  # an epoch without a time


def test_several_configs_add_up_and_name_each_basis_once():
    measured = cost.measurements(*frames(("vgg08", SMOKE, 6.0, 2), ("vgg38-bn", SMOKE, 20.0, 2)))
    rows = [config("vgg08", **SMOKE), config("vgg38-bn", **SMOKE), config("vgg38-bn", lr=1e-2, **SMOKE)]
    found = cost.estimate(rows, measured, "cpu")
    assert found.seconds == pytest.approx(2 * 6.0 + 2 * 20.0 * 2)
    assert found.basis == (
        "from 1 run of VGG08 in bf16; 1 run of VGG38 BN in bf16 on cpu, scaled to 2,000 training images an epoch"
    )
