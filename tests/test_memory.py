"""vgp_models.memory: a run's exact parameter count and the activations a training step keeps, in closed form,
held to the built model and to what autograd really saves; the budgets refuse an oversized run in one line on
both CLIs, the Launch form and the worker, before anything is built (issue 17.16); nothing that only counts
builds real weights or imports torch (issue 17.17)."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.cli_support import assert_one_line_error, cli
from tests.dashboard_support import open_page
from tests.env_support import REPO
from vgp_models import memory
from vgp_models.config import PRESETS, TABLE1, ConfigError, RunConfig
from vgp_models.memory import DEFAULT_MAX_ACTIVATION_GB, DEFAULT_MAX_PARAMS_X_BATCH
from vgp_models.nets import network
from vgp_models.vgg import count_parameters
from worker import db, store
from worker.jobs import train_run
from worker.schema import RunStatus

VARIANTS = [
    dict(depth=8, width=1),
    dict(depth=14, width=7),
    dict(depth=26, width=64, batch_norm=True, residual=True, shortcut="avgpool"),
    dict(depth=14, width=8, batch_norm=True, residual=True, shortcut="conv1x1"),
    dict(depth=14, width=8, residual=True, shortcut="conv1x1"),
    dict(depth=20, width=4, activation="tanh"),
    dict(depth=20, width=4, activation="relu", batch_norm=True),
    dict(depth=20, width=4, activation="selu"),
    dict(depth=20, width=4, activation="gelu", residual=True),
    dict(arch="densenet", depth=14, width=8),
    dict(arch="densenet", depth=20, width=8, batch_norm=True),
    dict(arch="densenet", depth=14, width=8, activation="relu"),
]
# What issue 17.16 found accepted: ~84 GiB of activations (VGG500 at width 1), and DenseNet500.
VGG500_BATCH_50000 = RunConfig(depth=500, width=1, batch_size=50_000, epochs=1, subset=64, device="cpu")
DENSENET500 = RunConfig(arch="densenet", depth=500, batch_size=40)  # 2.5e9 parameters x batch: under that budget


@pytest.mark.parametrize("kw", VARIANTS, ids=lambda kw: RunConfig(**kw).label)
def test_the_parameter_count_is_the_built_models(kw: dict) -> None:
    config = RunConfig(**kw)
    with torch.device("meta"):
        assert memory.parameters(config) == count_parameters(network(config))


def saved_bytes(config: RunConfig) -> int:
    """The bytes autograd keeps for backward in one training step of `config` (parameters aside)."""
    model = network(config).train()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in weights:
            kept[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(config.batch_size, 3, 32, 32)).sum()
    return sum(kept.values())


@pytest.mark.parametrize("kw", VARIANTS[1:], ids=lambda kw: RunConfig(**kw).label)
def test_the_activation_estimate_is_what_autograd_keeps(kw: dict) -> None:
    config = RunConfig(batch_size=4, **kw)
    assert memory.activation_bytes(config) == pytest.approx(saved_bytes(config), rel=0.06)


def test_oversized_runs_are_refused_and_the_reference_presets_accepted() -> None:
    budgets = DEFAULT_MAX_PARAMS_X_BATCH, DEFAULT_MAX_ACTIVATION_GB
    assert memory.activation_bytes(VGG500_BATCH_50000) / 2**30 == pytest.approx(84, rel=0.01)  # the figure
    for config in (VGG500_BATCH_50000, DENSENET500):
        assert memory.parameters(config) * config.batch_size <= DEFAULT_MAX_PARAMS_X_BATCH  # passed the old budget
        with pytest.raises(ConfigError, match=r"GB of activations per step, over .* \(VGP_MAX_ACTIVATION_GB\)") as e:
            memory.check_memory(config, *budgets)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="VGP_MAX_PARAMS_X_BATCH"):  # at batch 100: its real count, 6.2e7
        memory.check_memory(RunConfig(arch="densenet", depth=500), *budgets)
    for preset in PRESETS:
        memory.check_memory(RunConfig.from_preset(preset), *budgets)
    for row in TABLE1:
        memory.check_memory(RunConfig.from_preset(row.preset, lr=row.lr), *budgets)


def test_the_headless_cli_refuses_before_building_anything(tmp_path: Path) -> None:
    args = ["--depth", "500", "--width", "1", "--batch-size", "50000", "--out", str(tmp_path / "run")]
    done = subprocess.run([sys.executable, "-m", "vgp_models", "train", *args, "--data", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert_one_line_error(done, 2, "(VGP_MAX_ACTIVATION_GB)")
    assert not (tmp_path / "run").exists()


@pytest.mark.backends("sqlite")  # refused before the store is written
def test_submit_refuses_in_one_line(redis_env: dict[str, str]) -> None:
    assert cli(redis_env, "migrate").returncode == 0
    done = cli(redis_env, "submit", "--depth", "500", "--width", "1", "--batch-size", "50000")
    assert_one_line_error(done, 2, "(VGP_MAX_ACTIVATION_GB)")
    assert "Traceback" not in cli(redis_env, "list").stderr


@pytest.mark.usefixtures("env")
def test_the_launch_form_shows_the_refusal_and_queues_nothing() -> None:
    at = open_page()
    for name, value in (("depth", 500), ("width", 1), ("batch_size", 50_000)):
        at.number_input(key=name).set_value(value)
    at.run()
    assert not at.exception
    refusals = [e.value for e in at.error if "VGP\\_MAX\\_ACTIVATION\\_GB" in e.value]
    assert len(refusals) == 1 and "\n" not in refusals[0]
    assert at.button(key="submit").disabled


@pytest.mark.usefixtures("env")
def test_the_worker_refuses_a_stored_run_over_the_budget_before_building_it() -> None:
    """A run written past the queue's check (an older install, a lower budget since): failed in one line."""
    with db.session_scope() as s:
        run_id = store.create_run(s, VGG500_BATCH_50000).id
    assert train_run(run_id) == "failed"
    with db.session_scope() as s:
        run = store.get_run(s, run_id)
        assert run.status is RunStatus.FAILED and "(VGP_MAX_ACTIVATION_GB)" in run.reason and run.epochs_done == 0


def test_info_counts_depth_500_width_1024_without_allocating_its_weights() -> None:
    """4.7e9 parameters are ~19 GB of fp32 weights; under a 6 GiB address-space limit only the meta device works."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))

    command = [sys.executable, "-m", "vgp_models", "info", "--depth", "500", "--width", "1024"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, preexec_fn=limit,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]
    info = json.loads(done.stdout)
    assert info["params"] == 4_699_855_972 and info["activation_gb"] > 1


def test_importing_a_folder_without_params_never_imports_torch(tmp_path: Path, reference_results: Path) -> None:
    """The dashboard imports folders in its own process: counting a run's parameters must not load torch."""
    folder = tmp_path / "vgg38-lr0.001"
    shutil.copytree(reference_results / "demo" / folder.name, folder)
    record = json.loads((folder / "config.json").read_text())
    del record["params"]
    (folder / "config.json").write_text(json.dumps(record))
    script = f"""
import sys
from worker import db, importer
db.upgrade_database()
(imported,) = importer.import_folders([{str(folder)!r}]).imported
print(imported.run_id, sorted(m for m in sys.modules if m.split(".")[0] == "torch"))
with db.session_scope() as s:
    print(s.get(importer.Run, imported.run_id).params)
"""
    variables = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'vgp.db'}"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=variables, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    first, params = done.stdout.strip().splitlines()[-2:]
    assert first.endswith(" []") and int(params) == memory.parameters(RunConfig.from_dict(record["config"]))
