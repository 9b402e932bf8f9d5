"""Run options for command lines: one parser fragment for `python -m vgp_models train` and `python -m worker submit`.

Every option defaults to None, meaning "the preset's value, else RunConfig's default", so that a preset
plus a few overrides reads naturally: `--preset vgg38-bn-rc --lr 1e-2`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import NoReturn

from vgp_models.config import DEVICES, PRESETS, SCHEDULES, SHORTCUTS, RunConfig

# option name -> RunConfig field, for the options whose names differ from the field's
_FIELD_OF = {"bn": "batch_norm", "rc": "residual"}


class OneLineArgumentParser(argparse.ArgumentParser):
    """Bad options get one line on stderr and exit 2, without argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--preset", choices=sorted(PRESETS), help="architecture preset (Table 1's rows and future work)")
    g.add_argument("--depth", type=int, help="8 + 6N: 8 (VGG08), 38 (VGG38), 68, 74, ...")
    g.add_argument("--width", type=int, help="filters per conv (default 32)")
    g.add_argument("--bn", action=argparse.BooleanOptionalAction, default=None, help="batch norm after every conv")
    g.add_argument("--rc", action=argparse.BooleanOptionalAction, default=None, help="residual connections")
    g.add_argument("--shortcut", choices=SHORTCUTS, help="reduction-block shortcut (needs --rc)")
    g.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--epochs", type=int, help="default 100")
    g.add_argument("--batch-size", type=int, help="default 100")
    g.add_argument("--schedule", choices=SCHEDULES, help="cosine annealing stepped per epoch (default) or iteration")
    g.add_argument("--patience", type=int, help="early stopping on val accuracy; 0 = off (default)")
    g.add_argument("--seed", type=int, help="default 0")
    g.add_argument("--subset", type=int, help="keep at most N images of each split, for smoke runs; 0 = all")
    g.add_argument("--device", choices=DEVICES, help="default auto: cuda when available")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory layout (default on: faster convs, same maths)")
    g.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast for forward and loss (default off)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the model for training steps (default off; compiles once per run)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The validated RunConfig for parsed options; raises ConfigError with a one-line message."""
    values = {}
    for f in dataclasses.fields(RunConfig):
        option = next((opt for opt, name in _FIELD_OF.items() if name == f.name), f.name)
        value = getattr(args, option, None)
        if value is not None:
            values[f.name] = value
    if args.preset:
        return RunConfig.from_preset(args.preset, **values)
    return RunConfig.from_dict(values)
