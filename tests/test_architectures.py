"""Registered architectures (vgp_models.registry): VGP_ARCHITECTURES and entry points, checked at start; RunConfig and
both CLIs take their names; one trains on the queue like a built-in net, and a worker without it refuses the run in
one line before anything trains. The example plugin (examples/resnet_cifar) where it is installed (`make test`
installs it; elsewhere: pip install --no-deps -e examples/resnet_cifar)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from tests.cli_support import run_module
from tests.dashboard_support import all_runs, open_page
from tests.reliability_support import run_row, work_in_process
from tests.run_support import tiny
from vgp_models import registry
from vgp_models.config import ConfigError, RunConfig
from vgp_models.gradstats import weight_labels
from vgp_models.nets import network
from vgp_models.provenance import parameter_count
from worker import db, frames, submission
from worker.schema import RunStatus
from worker.settings import Settings, check_environment

ROOT = Path(__file__).resolve().parents[1]
TINY_NET = "tinynet=tests.arch_support:tiny_net"
TINY_PARAMS = 3 * 4 * 9 + 4 + 4 * 100 + 100
PLUGIN = {"resnet20", "resnet56", "plain20", "plain56"}
plugin_installed = PLUGIN <= {ep.name for ep in entry_points(group=registry.GROUP)}
needs_plugin = pytest.mark.skipif(
    not plugin_installed, reason="examples/resnet_cifar is not installed (make install-dev installs it)"
)


@pytest.fixture
def tiny_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.SETTING, TINY_NET)
    monkeypatch.chdir(ROOT)  # the child process that checks the setting imports tests.arch_support from here


def test_a_setting_registers_a_builder(tiny_registered) -> None:
    assert "tinynet" in registry.names() and registry.names()[:2] == ("vgg", "densenet")
    config = RunConfig(arch="tinynet", epochs=1)
    assert config.label == "tinynet"
    model = network(config)
    assert weight_labels(model) == ["0", "4"]  # parameter names in registration order, as gradstats makes them
    assert parameter_count(config) == TINY_PARAMS
    assert registry.parameter_counts()["tinynet"] == TINY_PARAMS  # counted here: this process has torch
    check_environment()


def test_a_process_without_torch_counts_in_a_child_one_with_torch_counts_itself(tiny_registered, monkeypatch) -> None:
    code = "import sys, vgp_models.registry as r; print(r.parameter_counts()['tinynet'], 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.split() == [str(TINY_PARAMS), "False"]  # the dashboard's way: torch stays out of it
    # A job or the training CLI has torch already: no child (which would import it again) is started.
    monkeypatch.setattr(registry.subprocess, "run", lambda *a, **k: pytest.fail("started a child process"))
    assert registry.parameter_counts({"width": 40})["tinynet"] == TINY_PARAMS


def test_the_memory_budget_counts_a_registered_arch(tiny_registered) -> None:
    config = RunConfig(arch="tinynet", batch_size=100, depth=74)  # depth is VGG's: this builder ignores it
    submission.check_budget(config, Settings(max_params_x_batch=TINY_PARAMS * 100))
    with pytest.raises(ConfigError, match=f"tinynet has {TINY_PARAMS} parameters; x batch 100 = "):
        submission.check_budget(config, Settings(max_params_x_batch=TINY_PARAMS * 100 - 1))


def test_an_unknown_name_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as error:
        RunConfig(arch="tinynet")
    assert str(error.value).startswith("arch must be one of vgg, densenet") and "VGP_ARCHITECTURES" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("tinynet", "VGP_ARCHITECTURES must be name=module:function"),
        ("vgg=tests.arch_support:tiny_net", "VGP_ARCHITECTURES names 'vgg' twice or as a built-in"),
        ("x=no_such_module:f", "VGP_ARCHITECTURES: architecture 'x': cannot load no_such_module:f (ModuleNotFound"),
        ("x=tests.arch_support:missing", "VGP_ARCHITECTURES: architecture 'x': cannot load tests.arch_support:missing"),
        ("x=tests.arch_support:not_a_builder", "VGP_ARCHITECTURES: architecture 'x': tests.arch_support:not_a_builder"),
        ("x=tests.arch_support:returns_text", "VGP_ARCHITECTURES: architecture 'x': its builder returned str"),
    ],
)
def test_a_bad_setting_stops_a_process_at_start_in_one_line(monkeypatch, setting: str, message: str) -> None:
    monkeypatch.setenv(registry.SETTING, setting)
    monkeypatch.chdir(ROOT)
    with pytest.raises(ValueError) as error:
        check_environment()
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_both_clis_take_a_registered_arch(tiny_registered) -> None:
    out = subprocess.run([sys.executable, "-m", "vgp_models", "architectures"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, check=True).stdout  # fmt: skip
    assert any(line.split()[:2] == ["tinynet", f"{TINY_PARAMS:,}"] for line in out.splitlines()), out
    info = run_module("vgp_models", "info", "--arch", "tinynet", timeout=120)
    assert info.returncode == 0 and f'"params": {TINY_PARAMS}' in info.stdout
    refused = run_module("worker", "submit", "--arch", "nonet", timeout=120)
    assert refused.returncode == 2 and "invalid choice: 'nonet'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_registered_arch_trains_on_the_queue_and_a_worker_without_it_refuses(
    redis_env: dict, tiny_registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = RunConfig.from_dict({**tiny().to_dict(), "arch": "tinynet"})
    run_id = submission.submit_run(config)
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.COMPLETED, run.reason
    assert run.params == TINY_PARAMS and run.test_acc is not None and run.epochs_done == 2
    with db.session_scope() as s:
        grads, steps = frames.gradients_frame(s, [run_id]), frames.steps_frame(s, [run_id])
    assert grads["layer"].tolist() == ["0", "4"] * 2 and (grads["abs_mean_last"] > 0).all()
    assert steps["step"].tolist() == [1, 2, 3, 4]

    refused = submission.submit_run(config)
    monkeypatch.delenv(registry.SETTING)  # this worker does not have it
    work_in_process()
    run = run_row(refused)
    assert run.status is RunStatus.FAILED and run.reason.startswith("architecture 'tinynet' is not registered on this")
    assert "\n" not in run.reason and run.started_at is None and run.epochs_done == 0


def test_launch_lists_a_registered_arch_with_its_parameters_and_queues_it(redis_env, tiny_registered) -> None:
    at = open_page()
    button = at.button(key="arch-tinynet")
    assert button.label == f"tinynet · {TINY_PARAMS:,} parameters"
    assert f"tinynet · {TINY_PARAMS:,} parameters" in at.selectbox(key="arch").options
    for key, value in {"p_epochs": 1, "p_batch_size": 32, "p_subset": 32}.items():
        at.number_input(key=key).set_value(value)
    at.run().button(key="arch-tinynet").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (run,) = all_runs()
    assert RunConfig.from_dict(run.config) == RunConfig(arch="tinynet", epochs=1, batch_size=32, subset=32)
    assert run.name == "tinynet"


@needs_plugin
def test_the_example_plugin_registers_he_et_al_resnets() -> None:
    assert PLUGIN <= set(registry.names())
    counts = {arch: parameter_count(RunConfig(arch=arch)) for arch in PLUGIN}
    assert counts["resnet20"] == counts["plain20"] == 275_572  # option A shortcuts have no parameters
    assert counts["resnet56"] == counts["plain56"] == 858_868
    model = network(RunConfig(arch="resnet56"))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert len(weight_labels(model)) == 1 + 1 + 9 * 3 * 4 + 1  # stem conv + BN, 27 blocks of 2 convs + 2 BNs, fc


@needs_plugin
def test_pages_counting_at_once_start_one_child() -> None:
    """Streamlit runs each browser session in a thread: sessions opening Launch together share one count (one
    child process importing torch), not one each."""
    import threading

    config = {"width": 24}  # a config no other test counts at, so that the cache starts empty for it
    results = []
    threads = [threading.Thread(target=lambda: results.append(registry.parameter_counts(config))) for _ in range(3)]
    misses = registry._counts.cache_info().misses
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry._counts.cache_info().misses == misses + 1  # a miss is a child process
    assert len(results) == 3 and results[0] == results[1] == results[2] and PLUGIN <= set(results[0])
