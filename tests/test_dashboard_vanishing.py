"""dashboard.vanishing: the vanishing-gradient flag (input/last-layer ratio at each run's latest epoch) and the
layers it reads, for VGG and the DenseNet alike."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashboard import vanishing
from vgp_models.config import RunConfig
from vgp_models.gradstats import weight_labels
from vgp_models.nets import network


def ends(rows: list[tuple[int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run_id", "epoch", "first", "last"])


def test_flag_uses_each_runs_latest_epoch():
    frame = ends(
        [
            (1, 1, 1e-5, 1e-1),  # below 1e-3 at epoch 1 ...
            (1, 2, 5e-4, 1e-1),  # ... but not at its latest: 5e-3
            (2, 1, 1e-1, 1e-1),
            (2, 3, 1e-18, 2e-4),  # VGG38: vanishing at its latest
        ]
    )
    flags = vanishing.vanishing_gradients(frame)
    assert flags.to_dict() == {1: False, 2: True}
    assert vanishing.latest_ratios(frame).to_dict() == pytest.approx({1: 5e-3, 2: 5e-15})


@pytest.mark.parametrize(
    "first,last,flagged",
    [
        (0.99e-3, 1.0, True),
        (1e-3, 1.0, False),  # exactly the threshold is not below it
        (0.0, 1e-4, True),  # a dead input layer
        (1e-9, 0.0, False),  # no last-layer gradient: undefined, not flagged
        (math.nan, 1.0, False),  # a non-finite value stored as NULL
    ],
)
def test_flag_threshold_and_edge_cases(first, last, flagged):
    assert bool(vanishing.vanishing_gradients(ends([(7, 1, first, last)]))[7]) is flagged


@pytest.mark.parametrize("bn", [False, True])
def test_densenet_gradient_ends_are_its_stem_conv_and_linear_layer(bn):
    # frames.gradient_ends_frame takes a run's lowest and highest layer_index: the first and last weight label.
    labels = weight_labels(network(RunConfig(arch="densenet", depth=38, batch_norm=bn)))
    assert (labels[0], labels[-1]) == ("input_conv_conv_0", "logit_linear_layer")  # as VGG38's: one chart, one flag
