"""Seeds: runs that share a config except the seed, aggregated (mean, sd, n, bands, seed noise) on known numbers,
the band charts built from them, and `python -m worker submit --seeds N` queuing N runs as one group."""

from __future__ import annotations

import io
import json
import math
import re

import pandas as pd
import pytest

from dashboard import charts, downloads, reads, seeds, table1
from dashboard.display import plain
from tests.browser_helpers import open_dashboard
from tests.cli_support import assert_one_line_error, cli
from tests.dashboard_support import add_run, all_runs, open_page
from vgp_models.config import RunConfig
from worker import db, queue, store
from worker.exports import to_csv


def run(run_id: int, preset: str, seed: int, **config) -> dict:
    cfg = RunConfig.from_preset(preset, seed=seed, **config)
    return dict(id=run_id, name=None, label=cfg.label, status="completed", config=cfg.to_dict(), params=1000,
                best_epoch=1, test_loss=2.0 + seed, test_acc=0.1 * (seed + 1))  # fmt: skip


def epochs_for(run_id: int, val_accs: list[float]) -> list[dict]:
    return [dict(run_id=run_id, epoch=e, train_loss=3.0, train_acc=0.2, val_loss=2.0 + run_id, val_acc=acc,
                 seconds=10.0) for e, acc in enumerate(val_accs, start=1)]  # fmt: skip


def test_mean_sd_n_on_known_numbers():
    assert seeds.mean_sd_n(pd.Series([2.0, 4.0, 9.0])) == pytest.approx((5.0, math.sqrt(13.0), 3))
    mean, sd, n = seeds.mean_sd_n(pd.Series([7.0, float("nan")]))
    assert (mean, n) == (7.0, 1) and math.isnan(sd)  # one value: no spread
    assert seeds.mean_sd_n(pd.Series([], dtype="float64"))[2] == 0


def test_seedless_key_groups_seeds_of_one_config_only():
    a, b = RunConfig(seed=0).to_dict(), RunConfig(seed=5).to_dict()
    assert seeds.seedless_key(a) == seeds.seedless_key(b)
    assert seeds.seedless_key(a) != seeds.seedless_key(RunConfig(seed=5, lr=2e-3).to_dict())
    assert seeds.seedless_key(None) == ""


def seeded_runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """VGG08 with seeds 0, 1, 2 (best val acc 40, 44, 48 %) and VGG38 with seeds 0, 1 (1 %, 3 %)."""
    runs = pd.DataFrame([run(1, "vgg08", 0), run(2, "vgg08", 1), run(3, "vgg08", 2), run(4, "vgg38", 0),
                         run(5, "vgg38", 1)])  # fmt: skip
    epochs = pd.DataFrame(
        epochs_for(1, [0.40]) + epochs_for(2, [0.44]) + epochs_for(3, [0.48]) + epochs_for(4, [0.01])
        + epochs_for(5, [0.03])
    )  # fmt: skip
    return runs, epochs


def test_aggregate_seeds_mean_sd_n_of_every_number():
    runs, epochs = seeded_runs()
    rows = seeds.seed_rows(runs, epochs)
    assert rows["config"].tolist() == ["VGG08 lr 1e-3"] * 3 + ["VGG38 lr 1e-3"] * 2
    assert rows["seed"].tolist() == [0, 1, 2, 0, 1]
    agg = seeds.aggregate_seeds(rows, ["config"])
    vgg08, vgg38 = agg.iloc[0], agg.iloc[1]
    assert (vgg08["n"], vgg08["seeds"], vgg38["n"]) == (3, "0, 1, 2", 2)
    assert vgg08["val_acc_pct"] == pytest.approx(44.0) and vgg08["val_acc_pct_sd"] == pytest.approx(4.0)
    assert vgg08["test_acc_pct"] == pytest.approx(20.0) and vgg08["test_acc_pct_sd"] == pytest.approx(10.0)
    assert vgg08["val_loss"] == pytest.approx(4.0) and vgg08["val_loss_sd"] == pytest.approx(1.0)  # 3, 4, 5
    assert vgg38["val_acc_pct"] == pytest.approx(2.0) and vgg38["val_acc_pct_sd"] == pytest.approx(math.sqrt(2))
    assert vgg08["wall_s_n"] == 3 and vgg08["wall_s_sd"] == 0.0
    for number in seeds.SEED_NUMBERS:
        assert {number, f"{number}_sd", f"{number}_n"} <= set(agg.columns)


def test_seed_noise_compares_the_difference_with_the_spread():
    agg = pd.DataFrame(dict(config=["a", "b", "c", "d"], val_acc_pct=[50.0, 53.0, 56.0, 60.0],
                            val_acc_pct_sd=[1.0, 1.5, 2.0, float("nan")]))  # fmt: skip
    verdicts = seeds.seed_noise(agg, reference=0).tolist()
    assert verdicts[0] == "reference"
    assert verdicts[1] == "beyond seed noise (+3.00 vs ±2.50)"  # 3 > 1 + 1.5
    assert verdicts[2] == "beyond seed noise (+6.00 vs ±3.00)"
    assert verdicts[3] == "needs 2+ seeds each"
    assert seeds.seed_noise(agg.iloc[:2].assign(val_acc_pct=[50.0, 52.0]), 0)[1].startswith("within seed noise")


def test_seed_band_min_max_and_one_sd():
    frame = pd.DataFrame(dict(config="a", epoch=[1, 1, 1, 2], value=[1.0, 2.0, 6.0, 5.0]))
    minmax = seeds.seed_band(frame, ["config", "epoch"], "value")
    assert minmax[["epoch", "mean", "lo", "hi", "n"]].values.tolist() == [[1, 3.0, 1.0, 6.0, 3], [2, 5.0, 5.0, 5.0, 1]]
    sd = seeds.seed_band(frame, ["config", "epoch"], "value", kind="sd")
    assert sd["lo"].tolist() == pytest.approx([3.0 - math.sqrt(7), 5.0])  # one seed: no band
    assert sd["hi"].tolist() == pytest.approx([3.0 + math.sqrt(7), 5.0])
    with pytest.raises(ValueError, match="band kind"):
        seeds.seed_band(frame, ["epoch"], "value", kind="iqr")


def test_seed_export_holds_per_seed_rows_and_the_aggregate():
    runs, epochs = seeded_runs()
    rows = seeds.seed_rows(runs, epochs)
    agg = seeds.aggregate_seeds(rows, ["config"])
    back = pd.read_csv(io.StringIO(to_csv(seeds.seed_export(rows, agg, ["config"]))))
    assert back["row"].tolist() == ["seed"] * 5 + ["mean", "mean", "sd", "sd", "n", "n"]
    mean08 = back[(back["row"] == "mean") & (back["config"] == "VGG08 lr 1e-3")].iloc[0]
    assert mean08["val_acc_pct"] == pytest.approx(44.0) and mean08["seed"] == "0, 1, 2"
    assert back[back["row"] == "n"]["val_acc_pct"].tolist() == [3, 2]
    assert back[back["row"] == "seed"]["run_id"].tolist() == [1, 2, 3, 4, 5]


def test_table1_seed_rows_take_every_seed_of_the_latest_rows_config():
    runs, epochs = seeded_runs()
    other = run(6, "vgg08", 3, epochs=7)  # VGG08 with other epochs: another config, not a seed of the latest
    runs = pd.concat([runs, pd.DataFrame([other])], ignore_index=True).iloc[::-1].reset_index(drop=True)
    assert table1.table1_runs(runs)[0] == 6
    assert seeds.table1_seed_run_ids(runs) == [4, 5, 6]
    runs = runs[runs["id"] != 6]
    assert seeds.table1_seed_run_ids(runs) == [1, 2, 3, 4, 5]
    rows = seeds.table1_seed_rows(runs, epochs)
    agg = seeds.aggregate_seeds(rows, ["model", "lr"])
    assert agg["model"].tolist() == ["VGG08", "VGG38"] and agg["n"].tolist() == [3, 2]
    assert agg["val_acc_pct"].tolist() == pytest.approx([44.0, 2.0])


def plotted_layers(chart) -> pd.DataFrame:
    spec = chart.to_dict()
    (values,) = spec["datasets"].values()
    return pd.DataFrame(values)


def test_seed_curve_chart_plots_the_mean_and_the_band():
    epochs = pd.DataFrame(epochs_for(1, [0.1, 0.2]) + epochs_for(2, [0.3, 0.6])).assign(config="VGG08")
    chart = charts.seed_curve_chart(epochs, "acc")
    spec = chart.to_dict()
    assert "min..max" in spec["title"]
    area, line = spec["layer"]
    assert area["mark"]["type"] == "area" and area["encoding"]["y2"]["field"] == "hi"
    assert line["encoding"]["y"]["field"] == "mean" and line["encoding"]["strokeDash"]["field"] == "split"
    data = plotted_layers(chart)
    val = data[data["split"] == "Validation"].sort_values("epoch")
    assert val[["mean", "lo", "hi", "n"]].values.ravel().tolist() == pytest.approx([0.2, 0.1, 0.3, 2, 0.4, 0.2, 0.6, 2])
    sd = plotted_layers(charts.seed_curve_chart(epochs, "acc", kind="sd"))
    val = sd[sd["split"] == "Validation"].sort_values("epoch")
    assert val["lo"].tolist() == pytest.approx([0.2 - math.sqrt(0.02), 0.4 - math.sqrt(0.08)])
    assert "± 1 sd" in charts.seed_curve_chart(epochs, "loss", kind="sd").to_dict()["title"]


def test_seed_flow_chart_is_the_mean_per_layer_on_a_log_axis():
    grads = pd.DataFrame(dict(run_id=[1, 1, 2, 2], epoch=1, layer_index=[0, 1, 0, 1], layer=["in", "out"] * 2,
                              abs_mean_last=[1e-6, 1e-2, 3e-6, 3e-2], config="VGG38"))  # fmt: skip
    chart = charts.seed_flow_chart(grads)
    spec = chart.to_dict()
    assert spec["layer"][1]["encoding"]["y"]["scale"]["type"] == "log"
    assert spec["layer"][1]["encoding"]["x"]["sort"] == ["in", "out"]
    data = plotted_layers(chart).set_index("layer")
    assert data.loc["in", ["mean", "lo", "hi"]].tolist() == pytest.approx([2e-6, 1e-6, 3e-6])
    assert data.loc["out", "mean"] == pytest.approx(2e-2)


# ---- queuing seeds: Launch and the CLI -----------------------------------------------------------


@pytest.mark.pages
def test_repeat_with_n_seeds_queues_one_group_per_launch(redis_env):
    at = open_page()
    for key, value in {"p_epochs": 1, "p_batch_size": 32, "p_subset": 32, "p_seeds": 3}.items():
        at.number_input(key=key).set_value(value)
    at.run().button(key="t1-1").click().run()  # VGG38 lr 1e-3, three seeds
    assert not at.exception and not at.error, [e.value for e in at.error]
    runs = sorted(all_runs(), key=lambda r: r.id)
    assert [RunConfig.from_dict(r.config).seed for r in runs] == [0, 1, 2]
    base = RunConfig.from_preset("vgg38", epochs=1, batch_size=32, subset=32).to_dict()
    assert all({**r.config, "seed": 0} == base for r in runs)  # nothing but the seed differs
    (group,) = {r.group_name for r in runs}
    assert group.startswith("VGG38 × 3 seeds · ") and at.session_state["runs_group"] == [group]
    assert [r.name for r in runs] == [f"VGG38 lr 1e-3 · seed {s}" for s in (0, 1, 2)]
    assert at.success[0].value == plain(f"Queued 3 runs as group “{group}”.") and queue.get_queue().count == 3

    at.number_input(key="seed").set_value(10)
    at.number_input(key="p_seeds").set_value(2)
    at.text_input(key="group").input("mine")
    at.run().button(key="submit").click().run()  # the custom form: seeds 10 and 11, in the group typed
    custom = sorted((r for r in all_runs() if r.group_name == "mine"), key=lambda r: r.id)
    assert [RunConfig.from_dict(r.config).seed for r in custom] == [10, 11] and queue.get_queue().count == 5


@pytest.mark.pages
def test_reproduce_table1_with_seeds_puts_every_seed_in_the_table1_group(redis_env):
    at = open_page()
    for key, value in {"p_epochs": 1, "p_batch_size": 32, "p_subset": 32, "p_seeds": 2}.items():
        at.number_input(key=key).set_value(value)
    at.run().button(key="table1").click().run()
    runs = all_runs()
    assert len(runs) == 14 and len({r.group_name for r in runs}) == 1 and runs[0].group_name.startswith("Table 1")
    assert sorted(RunConfig.from_dict(r.config).seed for r in runs) == [0] * 7 + [1] * 7


@pytest.mark.backends("sqlite")  # the command line over store functions
def test_worker_submit_seeds_queues_n_runs_as_one_group(redis_env):
    assert cli(redis_env, "migrate").returncode == 0
    done = cli(redis_env, "submit", "--preset", "vgg08", "--epochs", "1", "--seed", "4", "--seeds", "3")
    assert done.returncode == 0, done.stderr
    ids = [int(line) for line in done.stdout.split()]
    assert len(ids) == 3
    with db.session_scope(redis_env["DATABASE_URL"]) as session:
        runs = [store.require_run(session, i) for i in ids]
        assert [r.config["seed"] for r in runs] == [4, 5, 6]
        assert len({r.group_name for r in runs}) == 1 and runs[0].group_name.startswith("VGG08 × 3 seeds")
    assert_one_line_error(cli(redis_env, "submit", "--seeds", "0"), 2, "seeds must be a whole number from 1 to 100")
    assert_one_line_error(cli(redis_env, "submit", "--seed", str(2**32 - 1), "--seeds", "2"), 2, "seed must be")


# ---- the pages: Results and Compare over seeds -----------------------------------------------------


@pytest.mark.pages
def test_results_over_seeds_shows_mean_sd_n_and_seed_noise(env):
    vgg08 = [add_run("vgg08", epochs=3, seed=s, test_acc=0.40 + 0.02 * s) for s in (0, 1, 2)]
    add_run("vgg08", epochs=3, seed=3, status="failed")  # not completed: left out
    bn_rc = [add_run("vgg38-bn-rc", layers=75, epochs=2, seed=s, test_acc=0.5) for s in (0, 1)]
    at = open_page("views/results.py")
    assert not at.exception
    *tables, seeds = at.dataframe  # Results' three tables (accuracy, loss, runs), then the one over seeds
    table = tables[-1]
    agg = seeds.value.set_index("model")
    assert agg.loc["VGG08", "n"] == 3 and agg.loc["VGG08", "seeds"] == "0, 1, 2"
    assert agg.loc["VGG08", "test_acc_pct"] == pytest.approx(42.0)
    assert agg.loc["VGG08", "test_acc_pct_sd"] == pytest.approx(2.0)
    assert agg.loc["VGG38 BN+RC", "n"] == 2 and agg.loc["VGG38 BN+RC", "seed_noise"] == "reference"
    assert agg.loc["VGG08", "seed_noise"].startswith("beyond seed noise")  # 6 % vs 4 %, both with sd 0
    assert table.value["run_id"].iloc[0] == vgg08[-1]  # Table 1 itself still shows the latest run
    back = pd.read_csv(io.StringIO(to_csv(downloads.seeds_csv(reads.load_table1_seeds()[0], ["model", "lr"]))))
    assert sorted(back.loc[back["row"] == "seed", "run_id"]) == sorted(vgg08 + bn_rc)
    assert back.loc[back["row"] == "n", "test_acc_pct"].tolist() == [3, 2]
    assert "Seeds CSV (per seed and aggregate)" in [d.proto.label for d in at.get("download_button")]


def chart_titles(at) -> list[str]:
    return [str(json.loads(c.proto.spec).get("title", "")) for c in at.get("vega_lite_chart")]


@pytest.mark.pages
def test_compare_averages_the_seeds_of_each_config(env):
    a = [add_run("vgg08", seed=s) for s in (0, 1)]
    b = [add_run("vgg38", layers=39, kind="vanishing", seed=s) for s in (0, 1, 2)]
    at = open_page("views/compare.py")
    at.multiselect(key="compare_runs").set_value(a + b).run()
    assert not at.exception
    assert sum("min..max over seeds" in t for t in chart_titles(at)) == 3  # loss, accuracy, gradient flow
    (seeds,) = at.dataframe
    assert seeds.value["config"].tolist() == ["VGG08 lr 1e-3", "VGG38 lr 1e-3"]
    assert seeds.value["n"].tolist() == [2, 3] and seeds.value["seed_noise"].iloc[0] == "reference"
    at.segmented_control(key="compare_band").set_value("sd").run()
    assert sum("± 1 sd over seeds" in t for t in chart_titles(at)) == 3
    at.multiselect(key="compare_runs").set_value([a[0], b[0]]).run()  # one seed each: no section
    assert not at.dataframe and "compare_band" not in [w.key for w in at.get("segmented_control")]


@pytest.mark.pages
@pytest.mark.timeout(300)
def test_repeat_with_seeds_in_the_browser(services):
    """One click with "Repeat with N seeds" at 2 in Chromium queues two runs, seeds 0 and 1, in one group."""
    from playwright.sync_api import expect

    base, logs = services
    with open_dashboard(base, logs) as page:
        for key, value in {"p_epochs": "1", "p_batch_size": "32", "p_subset": "32", "p_seeds": "2"}.items():
            field = page.locator(f".st-key-{key} input")
            field.fill(value)
            field.press("Tab")
        page.get_by_role("button", name="VGG08 · lr 1e-3").click()
        expect(page.get_by_text(re.compile(r"Queued 2 runs as group “VGG08 × 2 seeds · "))).to_be_visible(
            timeout=30_000
        )
        assert page.locator("[data-testid='stException']").count() == 0
    runs = all_runs()
    assert sorted(r.config["seed"] for r in runs) == [0, 1] and len({r.group_name for r in runs}) == 1
