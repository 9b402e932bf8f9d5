"""Run options for command lines: one parser fragment for `python -m vgp_models train` and `python -m worker submit`.

Built from RunConfig's field metadata (config.setting), so that every field is an option with the help text
the Launch form shows: `--eta-min`, `--init kaiming`, `--bn/--no-bn`, ... Every option defaults to None,
meaning "the preset's value, else RunConfig's default", so that a preset plus a few overrides reads
naturally: `--preset vgg38-bn-rc --lr 1e-2`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import NoReturn

from vgp_models.config import PRESETS, RunConfig, choices_of

TYPES = {"int": int, "float": float, "str": str}


class OneLineArgumentParser(argparse.ArgumentParser):
    """Bad options get one line on stderr and exit 2, without argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def option_name(field: dataclasses.Field) -> str:
    """The CLI's name for a RunConfig field: its metadata's `option` (bn, rc) or the field name, dashed."""
    return field.metadata["option"] or field.name.replace("_", "-")


def default_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--preset", choices=sorted(PRESETS), help="architecture preset (Table 1's rows and future work)")
    for f in dataclasses.fields(RunConfig):
        meta, flag = f.metadata, f"--{option_name(f)}"
        text = f"{meta['help']} (default {default_text(f.default)})".replace("%", "%%")  # argparse %-formats
        if f.type == "bool":
            g.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            g.add_argument(flag, dest=f.name, type=TYPES[f.type], choices=choices_of(f) or None, help=text)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The validated RunConfig for parsed options; raises ConfigError with a one-line message."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(RunConfig)}
    values = {name: value for name, value in values.items() if value is not None}
    if args.preset:
        return RunConfig.from_preset(args.preset, **values)
    return RunConfig.from_dict(values)
