"""The Launch page under AppTest: Table 1's presets (one click each, or all seven as one group), the future-work
presets, the custom form with every RunConfig field and its inline validation, and the Redis-down banner."""

from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.display import plain
from tests.dashboard_support import all_runs, open_page
from tests.env_support import DEAD_REDIS_URL
from vgp_models.config import TABLE1, RunConfig, choices_of
from vgp_models.cures import CURES
from worker import queue

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py

TINY = {"p_epochs": 1, "p_batch_size": 32, "p_subset": 32}
QUEUE_BUTTONS = ["table1", *(f"t1-{i}" for i in range(7)), "fw-vgg38-bn-rc-avgpool", "fw-vgg38-bn-rc-conv1x1",
                 "fw-vgg68-bn-rc", "fw-vgg74-bn-rc", "fw-vgg38-bn-rc-w64", "cures",
                 *(f"cure-{i}" for i in range(len(CURES))), "submit"]  # fmt: skip


def tiny(at: AppTest) -> AppTest:
    for key, value in TINY.items():
        at.number_input(key=key).set_value(value)
    return at.run()


def test_reproduce_table1_queues_seven_runs_in_one_group(redis_env):
    at = tiny(open_page())
    at.button(key="table1").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (notice,) = at.success
    assert notice.value.startswith("Queued 7 runs as group “Table 1 · ")
    runs = sorted(all_runs(), key=lambda r: r.id)
    assert len(runs) == 7
    assert len({run.group_name for run in runs}) == 1 and runs[0].group_name.startswith("Table 1 · ")
    assert all(run.tags == ["table1"] for run in runs)
    for run, row in zip(runs, TABLE1):
        want = RunConfig.from_preset(row.preset, lr=row.lr, epochs=1, batch_size=32, subset=32)
        assert RunConfig.from_dict(run.config) == want
        assert run.status.value == "queued"
    assert [job.args for job in queue.get_queue().get_jobs()] == [[run.id] for run in runs]
    assert at.session_state["runs_group"] == [runs[0].group_name]  # Runs opens filtered on the group
    (link,) = at.get("page_link")
    assert link.proto.page == "runs"


@pytest.mark.parametrize("index", [0, 6])
def test_one_click_queues_one_table1_row(redis_env, index):
    at = tiny(open_page())
    at.button(key=f"t1-{index}").click().run()
    (run,) = all_runs()
    row = TABLE1[index]
    assert RunConfig.from_dict(run.config) == RunConfig.from_preset(row.preset, lr=row.lr, epochs=1, batch_size=32,
                                                                   subset=32)  # fmt: skip
    assert run.group_name is None and at.success[0].value == plain(f"Queued run #{run.id}: {run.name}.")
    assert queue.get_queue().count == 1


def test_future_work_presets(redis_env):
    at = tiny(open_page())
    for preset in ("vgg38-bn-rc-conv1x1", "vgg74-bn-rc", "vgg38-bn-rc-w64"):
        at.button(key=f"fw-{preset}").click().run()
    configs = [RunConfig.from_dict(run.config) for run in sorted(all_runs(), key=lambda r: r.id)]
    shapes = [(c.depth, c.width, c.shortcut) for c in configs]
    assert shapes == [(38, 32, "conv1x1"), (74, 32, "none"), (38, 64, "none")]
    assert all(c.batch_norm and c.residual and c.epochs == 1 for c in configs)


def test_cures_for_vgg38_queues_every_cure_as_one_group(redis_env):
    at = tiny(open_page())
    at.button(key="cures").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith(f"Queued {len(CURES)} runs as group “Cures for VGG38 · ")
    runs = sorted(all_runs(), key=lambda r: r.id)
    assert len({run.group_name for run in runs}) == 1 and all(run.tags == ["cures"] for run in runs)
    for run, (cure, overrides) in zip(runs, CURES.items(), strict=True):
        assert RunConfig.from_dict(run.config) == RunConfig.from_preset("vgg38", **overrides, epochs=1, batch_size=32,
                                                                         subset=32)  # fmt: skip
        assert run.name == ("VGG38" if cure == "none" else f"VGG38 + {cure}")
    assert {RunConfig.from_dict(run.config).arch for run in runs} == {"vgg", "densenet"}
    assert at.session_state["runs_group"] == [runs[0].group_name]


def test_one_click_queues_one_cure(redis_env):
    at = tiny(open_page())
    index = list(CURES).index("Kaiming init")
    at.button(key=f"cure-{index}").click().run()
    (run,) = all_runs()
    assert RunConfig.from_dict(run.config) == RunConfig.from_preset("vgg38", init="kaiming", epochs=1, batch_size=32,
                                                                     subset=32)  # fmt: skip
    assert run.group_name is None and run.name == "VGG38 + Kaiming init"


def test_form_widgets_take_label_help_and_choices_from_the_config_fields(env):
    at = open_page()
    for field in dataclasses.fields(RunConfig):
        widget = at.get_by_key(field.name)
        assert widget.help == field.metadata["help"], field.name
        if choices := choices_of(field):  # arch: built-in and registered names, the latter with parameter counts
            assert tuple(option.split(" · ")[0] for option in widget.options) == choices, field.name
    assert at.number_input(key="eta_min").label == "LR floor (eta_min)"


def test_custom_form_queues_the_cure_settings(redis_env):
    at = open_page()
    at.number_input(key="depth").set_value(38)
    for key, value in dict(arch="densenet", init="orthogonal", activation="gelu", optimizer="sgd",
                           grad_amp_layers="convs").items():  # fmt: skip
        at.selectbox(key=key).set_value(value)
    at.checkbox(key="nesterov").check()
    at.number_input(key="grad_amp_factor").set_value(3.0)
    at.number_input(key="grad_amp_ratio").set_value(0.25)
    at.text_input(key="grad_amp_epochs").input("first:2")
    at.run()
    at.button(key="submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (run,) = all_runs()
    assert RunConfig.from_dict(run.config) == RunConfig(
        arch="densenet",
        depth=38,
        init="orthogonal",
        activation="gelu",
        optimizer="sgd",
        nesterov=True,
        grad_amp_factor=3.0,
        grad_amp_layers="convs",
        grad_amp_ratio=0.25,
        grad_amp_epochs="first:2",
    )
    queued = f"Queued run #{run.id}: DenseNet38 Orthogonal GELU SGD-Nesterov GradAmp x3"
    assert at.success[0].value.startswith(plain(queued))


def test_custom_form_has_every_config_field_and_queues_it(redis_env):
    at = open_page()
    values = dict(depth=14, width=16, lr=5e-3, weight_decay=1e-4, epochs=2, batch_size=32, eta_min=1e-5,
                  patience=3, seed=7, subset=64)  # fmt: skip
    for key, value in values.items():
        at.number_input(key=key).set_value(value)
    at.checkbox(key="batch_norm").check()
    at.checkbox(key="residual").check()
    at.checkbox(key="channels_last").uncheck()
    at.selectbox(key="shortcut").set_value("avgpool")
    at.selectbox(key="schedule").set_value("iteration")
    at.selectbox(key="device").set_value("cpu")
    at.text_input(key="name").input("custom")
    at.text_input(key="group").input("sweep")
    at.text_input(key="tags").input("a, b")
    at.text_area(key="note").input("a note")
    at.run()
    for field in dataclasses.fields(RunConfig):  # one widget per field, keyed by its name
        assert at.get_by_key(field.name) is not None, field.name
    at.button(key="submit").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (run,) = all_runs()
    expected = dict(values, batch_norm=True, residual=True, channels_last=False, shortcut="avgpool",
                    schedule="iteration", device="cpu")  # fmt: skip
    assert RunConfig.from_dict(run.config) == RunConfig.from_dict(expected)
    assert (run.name, run.group_name, run.tags, run.note) == ("custom", "sweep", ["a", "b"], "a note")
    assert at.success[0].value.startswith(plain(f"Queued run #{run.id}: VGG14 BN+RC avgpool x16, 2 epochs"))


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("lr", 0.0, "lr must be"),
        ("lr", -0.01, "lr must be"),
        ("epochs", 0, "epochs must be"),
        ("batch_size", 0, "batch_size must be"),
        ("depth", 9, "depth must be 8 + 6N"),
        ("eta_min", 0.5, "eta_min (0.5)"),
        ("subset", -1, "subset must be"),
        ("grad_amp_factor", 0.5, "grad_amp_factor must be between 1 and 1000"),
        ("grad_amp_ratio", 1.5, "grad_amp_ratio must be"),
    ],
)
def test_invalid_form_shows_the_error_inline_and_queues_nothing(redis_env, key, value, message):
    at = open_page()
    at.number_input(key=key).set_value(value).run()
    (error,) = at.error  # shown as soon as the field changes, under the field
    assert plain(message) in error.value and "\n" not in error.value  # shown as typed
    assert at.button(key="submit").disabled  # AppTest, like a browser, cannot click it
    assert not at.success and all_runs() == [] and queue.get_queue().count == 0


def test_shortcut_without_residual_is_an_error(redis_env):
    at = open_page()
    at.selectbox(key="shortcut").set_value("conv1x1").run()
    (error,) = at.error
    assert "residual" in error.value and at.button(key="submit").disabled


def test_bad_amplified_epochs_and_nesterov_without_sgd_are_errors(redis_env):
    at = open_page()
    at.text_input(key="grad_amp_epochs").input("sometimes").run()
    (error,) = at.error
    assert error.value == plain("grad_amp_epochs must be all, alternate or first:N (N from 1), got 'sometimes'")
    at.text_input(key="grad_amp_epochs").input("all")
    at.checkbox(key="nesterov").check().run()
    (error,) = at.error
    assert "nesterov applies to optimizer sgd only" in error.value and at.button(key="submit").disabled


def test_start_from_a_preset_fills_the_architecture(env):
    at = open_page()
    at.selectbox(key="start_from").set_value("vgg38-bn-rc-w64").run()
    assert not at.exception and not at.warning
    assert (at.number_input(key="depth").value, at.number_input(key="width").value) == (38, 64)
    assert at.checkbox(key="batch_norm").value and at.checkbox(key="residual").value


def test_invalid_preset_settings_disable_the_presets(redis_env):
    at = open_page()
    at.number_input(key="p_epochs").set_value(0).run()
    (error,) = at.error
    assert "epochs must be" in error.value
    assert all(at.button(key=k).disabled for k in QUEUE_BUTTONS if k != "submit")
    assert not at.button(key="submit").disabled  # the custom form has its own fields


def test_redis_down_shows_banner_and_disables_every_queue_button(env, monkeypatch):
    monkeypatch.setenv("REDIS_URL", DEAD_REDIS_URL)
    at = open_page()
    (banner,) = at.error
    assert "Redis" in banner.value and "not reachable" in banner.value
    assert [k for k in QUEUE_BUTTONS if not at.button(key=k).disabled] == []


def test_the_form_spells_optimiser_as_its_heading_does(env):
    at = open_page()
    assert at.selectbox(key="optimizer").label == "Optimiser"
    assert "**Optimiser**" in [m.value for m in at.markdown]
