"""dashboard.run_folder_imports (AppTest): an empty database offers the shipped reference results and loads them on
a click, never unasked; and the Launch page's cost estimate from measured epoch times, or "unknown"."""

from __future__ import annotations

import pytest

from dashboard import display
from tests.dashboard_support import add_run, all_runs, open_page

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py


def test_empty_database_offers_the_reference_results(env, reference_results, monkeypatch):
    monkeypatch.setenv("VGP_REFERENCE_DIR", str(reference_results))
    at = open_page("views/runs.py")
    assert "No runs yet" in at.info[0].value and all_runs() == []  # nothing imported unasked
    at.button(key="load_reference").click().run()
    assert not at.exception, at.exception
    runs = sorted(all_runs(), key=lambda r: r.id)
    assert [(r.name, r.status.value, r.group_name, r.tags) for r in runs] == [
        ("VGG08 x8", "completed", "reference · demo", ["imported"]),
        ("VGG38 x8", "completed", "reference · demo", ["imported"]),
    ]
    assert [r.epochs_done for r in runs] == [1, 1]
    # then Compare, on their VGG08 against their VGG38, the outcome above by run name (no server path)
    assert at.title[0].value == "Compare runs" and at.multiselect(key="compare_runs").value == [1, 2]
    assert at.success[0].value == display.plain("Imported 2 of 2 run(s).")
    assert at.text[0].value.splitlines() == [
        f"{title}: imported"
        for title in (
            "#1 VGG08 x8 lr 1e-3 · 1 epoch · 64 images · batch 32",
            "#2 VGG38 x8 lr 1e-3 · 1 epoch · 64 images · batch 32",
        )
    ]
    at = open_page("views/runs.py")  # with runs, no offer
    assert "load_reference" not in [b.key for b in at.button]


def test_the_first_page_offers_the_reference_results_on_an_empty_database(env, reference_results, monkeypatch):
    monkeypatch.setenv("VGP_REFERENCE_DIR", str(reference_results))
    at = open_page()  # Launch, the default page
    assert at.title[0].value == "Launch a run" and "No runs yet" in at.markdown[0].value
    at.button(key="load_reference").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare runs" and at.multiselect(key="compare_runs").value == [1, 2]
    at = open_page()  # with runs, Launch offers nothing more
    assert "load_reference" not in [b.key for b in at.button]


def test_no_offer_without_shipped_results(env, tmp_path, monkeypatch):
    monkeypatch.setenv("VGP_REFERENCE_DIR", str(tmp_path / "none"))
    at = open_page("views/runs.py")
    assert "load_reference" not in [b.key for b in at.button]


def test_launch_estimates_table1_from_measured_epochs_or_says_unknown(env):
    at = open_page()
    caption = next(c.value for c in at.caption if c.value.startswith("Reproduce Table 1"))
    assert caption.startswith("Reproduce Table 1, 100 epochs: " + display.plain("unknown on the workers' device"))
    for preset in ("vgg08", "vgg38", "vgg38-bn", "vgg38-rc"):  # add_run: 64 images an epoch, 1.5 s each
        add_run(preset, device="cpu")
    at = open_page()
    caption = next(c.value for c in at.caption if c.value.startswith("Reproduce Table 1"))
    assert caption.startswith("Reproduce Table 1, 100 epochs: about ")  # BN+RC: from another net's, scaled
    assert display.plain("scaled by parameters to VGG38 BN+RC") in caption
    per_image = 1.5 / (64 + 64 / 3)  # a validation image counts as a third of a training image
    vgg08 = at.button(key="t1-0").proto.help
    assert vgg08 == (f"about {display.fmt_duration(per_image * (47_500 + 2_500 / 3) * 100)} on this cpu (from 1 run "
                     "of VGG08 in fp32 on cpu, scaled to 47,500 training images an epoch)")  # fmt: skip
    add_run("vgg38-bn-rc", device="cpu")
    at = open_page()
    at.number_input(key="p_epochs").set_value(8).run()
    caption = next(c.value for c in at.caption if c.value.startswith("Reproduce Table 1"))
    seven = display.fmt_duration(7 * per_image * (47_500 + 2_500 / 3) * 8)
    assert caption.startswith(f"Reproduce Table 1, 8 epochs: about {seven} on this cpu")
    assert "scaled by parameters" not in caption
