"""Run options on both command lines come from RunConfig's field metadata: every field, its help and choices."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from vgp_models.__main__ import main
from vgp_models.cli_options import OneLineArgumentParser, add_run_arguments, config_from_args, option_name
from vgp_models.config import RunConfig, choices_of
from worker.__main__ import build_parser

FIELDS = dataclasses.fields(RunConfig)


def run_actions(parser: argparse.ArgumentParser, *path: str) -> dict[str, argparse.Action]:
    for name in path:  # down the subcommands
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {a.dest: a for a in parser._actions}


def vgp_models_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m vgp_models")
    add_run_arguments(parser)
    return parser


@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
def test_every_field_is_an_option_with_its_metadata_on_both_clis(field: dataclasses.Field) -> None:
    for actions in (run_actions(vgp_models_parser()), run_actions(build_parser(), "submit")):
        action = actions[field.name]
        assert action.option_strings[0] == f"--{option_name(field)}"
        assert field.metadata["help"] in action.help % {}  # argparse %-formats help; a % is doubled
        assert tuple(action.choices or ()) == choices_of(field)  # arch: the built-in and registered ones


def test_a_low_learning_rate_can_lower_eta_min_on_both_clis(capsys: pytest.CaptureFixture) -> None:
    args = build_parser().parse_args(["submit", "--preset", "vgg38", "--lr", "1e-5", "--eta-min", "1e-6"])
    assert config_from_args(args) == RunConfig.from_preset("vgg38", lr=1e-5, eta_min=1e-6)
    assert main(["info", "--preset", "vgg38", "--lr", "1e-5", "--eta-min", "1e-6"]) == 0
    assert '"eta_min": 1e-06' in capsys.readouterr().out


def test_cure_options_parse_into_the_config() -> None:
    argv = ["submit", "--depth", "38", "--arch", "densenet", "--bn", "--init", "kaiming", "--activation", "selu",
            "--optimizer", "sgd", "--nesterov", "--grad-amp-factor", "2", "--grad-amp-layers", "convs",
            "--grad-amp-ratio", "0.25", "--grad-amp-epochs", "first:3"]  # fmt: skip
    config = config_from_args(build_parser().parse_args(argv))
    assert config == RunConfig(depth=38, arch="densenet", batch_norm=True, init="kaiming", activation="selu",
                               optimizer="sgd", nesterov=True, grad_amp_factor=2.0, grad_amp_layers="convs",
                               grad_amp_ratio=0.25, grad_amp_epochs="first:3")  # fmt: skip


def test_an_unknown_choice_is_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["submit", "--init", "he"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "--init: invalid choice: 'he'" in err
