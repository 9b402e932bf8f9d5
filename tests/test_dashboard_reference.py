"""dashboard.reference: which stored configs are the report's own (Table 1's rows, the Compare default), cures
excluded, configs stored before the cures included."""

from __future__ import annotations

import pytest

from dashboard import reference, table1
from tests.dashboard_support import runs_frame
from vgp_models.config import RunConfig
from vgp_models.cures import CURES


def test_default_compare_is_the_newest_vgg08_and_vgg38():
    runs = runs_frame(
        [
            dict(preset="vgg38"),
            dict(preset="vgg08"),
            dict(preset="vgg38"),  # newest VGG38
            dict(preset="vgg08", config=dict(width=64)),  # not the reference VGG08
            dict(preset="vgg38-bn-rc"),
            dict(preset="vgg08", epochs_done=0),  # no epoch yet
        ]
    )
    assert table1.default_compare(runs) == [2, 3]


def test_default_compare_falls_back_to_the_newest_two_with_epochs():
    runs = runs_frame([dict(preset="vgg38-bn"), dict(preset="vgg38-rc"), dict(preset="vgg38-bn-rc", epochs_done=0)])
    assert table1.default_compare(runs) == [1, 2]
    assert table1.default_compare(runs.iloc[:0]) == []


@pytest.mark.parametrize("cure", [k for k in CURES if k not in ("none", "BN", "RC", "BN+RC")])
def test_a_cured_vgg38_is_not_table1s_vgg38(cure):
    runs = runs_frame([dict(preset="vgg38"), dict(preset="vgg38", config=CURES[cure])])
    assert table1.table1_runs(runs) == {1: 1}  # the plain one, though the cured one is newer
    runs = runs_frame([dict(preset="vgg38"), dict(preset="vgg08"), dict(preset="vgg38", config=CURES[cure])])
    assert table1.default_compare(runs) == [2, 1]  # VGG08 against the plain VGG38, not the newer cured one


def test_a_config_stored_before_the_cures_still_matches_its_row():
    old = {k: v for k, v in RunConfig.from_preset("vgg38").to_dict().items() if k not in reference.REFERENCE}
    assert reference.config_is(old, "vgg38", 1e-3)
