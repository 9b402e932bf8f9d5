"""Bad input, property-based (hypothesis): RunConfig.from_dict over arbitrary JSON-ish dicts, and the CSV export
(worker.exports, used by `python -m worker export` and the dashboard's downloads) over hostile text and numbers.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os

import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vgp_models.config import ConfigError, RunConfig
from vgp_models.nets import network
from vgp_models.vgg import count_parameters
from worker.exports import FORMULA_PREFIXES, LEADING_BLANKS, escape_cell, escape_frame, to_csv

FIELDS = [f.name for f in dataclasses.fields(RunConfig)]
TYPES = {f.name: f.type for f in dataclasses.fields(RunConfig)}
# Random exploration on developers' machines; a fixed sequence in CI (CI=true), so that a landing never
# depends on the draw (CI=true make test reproduces it).
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=os.environ.get("CI") == "true",
)

# JSON's values. Integers stay within 64 bits here: larger ones are test_huge_int_for_a_float_field below.
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)  # fmt: skip
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
# Values near the valid ranges, so that a good share of the dicts are valid configs.
plausible = {
    "depth": st.sampled_from([8, 14, 20, 38, 9, 0, -6, 506]),
    "width": st.integers(-2, 40),
    "batch_norm": st.booleans(),
    "residual": st.booleans(),
    "shortcut": st.sampled_from(["none", "avgpool", "conv1x1", "None", ""]),
    "lr": st.floats(-1, 11),
    "weight_decay": st.floats(-0.5, 1.5),
    "epochs": st.integers(-1, 10_001),
    "batch_size": st.integers(-1, 50_001),
    "schedule": st.sampled_from(["epoch", "iteration", "step"]),
    "eta_min": st.floats(0, 1e-3),
    "patience": st.integers(-1, 10),
    "seed": st.integers(-1, 2**32),
    "subset": st.integers(-1, 60_001),
    "device": st.sampled_from(["auto", "cpu", "cuda", "tpu"]),
    "channels_last": st.booleans(),
    "arch": st.sampled_from(["vgg", "densenet", "resnet"]),
    "init": st.sampled_from(["default", "kaiming", "xavier", "orthogonal", "he"]),
    "activation": st.sampled_from(["leaky_relu", "relu", "tanh", "gelu", "selu", "swish"]),
    "optimizer": st.sampled_from(["adam", "adamw", "sgd", "rmsprop"]),
    "grad_amp_factor": st.floats(0, 1001),
    "grad_amp_ratio": st.floats(-0.1, 1.1),
    "grad_amp_layers": st.sampled_from(["activations", "convs", "bn"]),
    "grad_amp_epochs": st.sampled_from(["all", "alternate", "first:3", "first:0", "first:", "odd"]),
}
by_type = {"bool": st.booleans(), "int": st.integers(-1, 100), "float": st.floats(-1, 10), "str": st.text(max_size=8)}
valid = {
    "depth": st.sampled_from([8, 14, 20, 38]),
    "width": st.integers(1, 32),
    "lr": st.floats(1e-5, 10),
    "weight_decay": st.floats(0, 1),
    "epochs": st.integers(1, 100),
    "batch_size": st.integers(1, 500),
    "eta_min": st.floats(0, 1e-5),
    "patience": st.integers(0, 10),
    "seed": st.integers(0, 2**32 - 1),
    "subset": st.integers(0, 60_000),
    "shortcut": st.just("none"),
}
valid_dicts = st.fixed_dictionaries({}, optional={name: valid.get(name, plausible.get(name, by_type[TYPES[name]]))
                                                  for name in FIELDS})  # fmt: skip
config_dicts = st.one_of(
    valid_dicts,  # mostly valid
    st.tuples(valid_dicts, st.sampled_from(FIELDS), json_values | st.one_of(*plausible.values())).map(
        lambda t: {**t[0], t[1]: t[2]}
    ),  # one field spoiled
    st.fixed_dictionaries(
        {}, optional={name: st.one_of(plausible.get(name, by_type[TYPES[name]]), json_values) for name in FIELDS}
    ),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=4),  # anything
)


@SETTINGS
@given(config_dicts)
def test_from_dict_gives_a_config_error_or_a_buildable_round_tripping_config(values: dict) -> None:
    try:
        config = RunConfig.from_dict(values)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert RunConfig.from_dict(config.to_dict()) == config
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config  # as stored in the database
    with torch.device("meta"):  # the weights are never allocated, however wide
        assert count_parameters(network(config)) > 0


def test_huge_int_for_a_float_field_is_a_config_error() -> None:
    """JSON may carry a 400-digit integer; float() of it would overflow."""
    with pytest.raises(ConfigError):
        RunConfig.from_dict({"lr": 10**400})


# ---- CSV export -------------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(),  # any unicode, surrogates included
    st.tuples(st.sampled_from(FORMULA_PREFIXES), st.text()).map("".join),
    st.sampled_from(["=1+1", '=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2", "@SUM(A1)", "\t=x", "\r=x", ""]),
)
finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
SKIPPED = "".join(chr(c) for c in range(0x10000) if LEADING_BLANKS.match(chr(c)))  # what may stand before a sign


@SETTINGS
@given(st.one_of(hostile_text, finite_or_not, st.integers(), st.none()))
def test_escape_cell(value: object) -> None:
    out = escape_cell(value)
    # A formula sign first, or after what a spreadsheet skips (blanks, controls, zero-width marks): quoted.
    if isinstance(value, str) and any(v.startswith(FORMULA_PREFIXES) for v in (value, value.lstrip(SKIPPED))):
        assert out == "'" + value
    elif isinstance(value, float) and math.isnan(value):
        assert isinstance(out, float) and math.isnan(out)
    else:
        assert out == value and type(out) is type(value)


@SETTINGS
@given(
    st.lists(st.tuples(hostile_text, finite_or_not, st.integers(-(2**62), 2**62)), max_size=8),
    st.lists(hostile_text, min_size=3, max_size=3, unique=True),
)
def test_to_csv_escapes_text_and_round_trips_numbers(rows: list[tuple], names: list[str]) -> None:
    frame = pd.DataFrame(rows, columns=["name", "value", "count"]).astype(
        {"name": object, "value": "float64", "count": "int64"}
    )
    frame["mixed"] = [r[0] if i % 2 else r[1] for i, r in enumerate(rows)]  # text and numbers in one column
    frame = frame.rename(columns=dict(zip(["name", "value", "count"], names)))
    text = to_csv(frame)  # never raises

    parsed = list(csv.reader(io.StringIO(text, newline="")))
    header, body = parsed[0], parsed[1:]
    assert header == [escape_cell(str(c)) for c in frame.columns]
    assert len(body) == len(rows)
    for (name, value, count), line, mixed in zip(rows, body, frame["mixed"]):
        assert line[0] == escape_cell(name)
        assert not line[0].startswith(FORMULA_PREFIXES)  # no text cell reaches a spreadsheet as a formula
        if math.isnan(value):
            assert line[1] == ""
        else:
            assert float(line[1]) == value  # numbers, negative ones included, are written as numbers, exactly
        assert int(line[2]) == count
        if isinstance(mixed, str):
            assert line[3] == escape_cell(mixed)
        elif not math.isnan(mixed):
            assert float(line[3]) == mixed
    assert frame.equals(frame.copy()) and escape_frame(frame) is not frame  # the input is not modified
