"""The independent reproductions beside Table 1: every row has its range, copied from
../shared/reference/independent-runs.md, and none of the product's code reads that file."""

from __future__ import annotations

from vgp_models.config import TABLE1
from vgp_models.reproductions import REPRODUCTIONS, reproductions, span_text


def test_every_table1_row_has_its_independent_range():
    assert [(r.preset, r.lr) for r in REPRODUCTIONS] == [(row.preset, row.lr) for row in TABLE1]
    vgg08 = reproductions("vgg08", 1e-3)
    assert (vgg08.runs, vgg08.val_acc, vgg08.val_loss, vgg08.test_acc, vgg08.test_loss) == (
        7, (47.8, 49.1), (1.95, 1.99), (48.2, 50.0), (1.90, 1.98))  # fmt: skip
    assert reproductions("vgg38-bn-rc", 1e-2).val_acc == (60.6, 62.2)
    assert reproductions("vgg38-bn-rc", 1e-3).runs == 1 and reproductions("vgg68", 1e-3) is None
    for row in REPRODUCTIONS:
        for low, high in (row.val_acc, row.val_loss, row.test_acc, row.test_loss):
            assert low <= high


def test_span_text_says_a_single_run_is_not_a_range():
    assert span_text((47.8, 49.1)) == "47.8–49.1"
    assert span_text((52.7, 52.7)) == "52.7"
