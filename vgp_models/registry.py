"""Registered architectures: networks beyond the built-in VGG and DenseNet, named by whoever runs the workers.

Two sources, both read from the host, never from the browser:
  entry points   group `vgp_lab.architectures` of any installed package (`name = "module:function"`), e.g.
                 examples/resnet_cifar (`pip install -e examples/resnet_cifar`)
  VGP_ARCHITECTURES   "name=module:function,..." (checked when a worker, the CLI or the dashboard starts)

A builder takes the RunConfig and returns an nn.Module for CIFAR-100: (B, 3, 32, 32) -> (B, 100) logits. It then
trains like the built-in nets (same data, optimiser, schedule, checkpoints, gradient statistics; `init` is applied
to its convs and linear layers). Names are known without importing anything (entry-point metadata, the setting's
text), so that RunConfig can check an `arch` without torch; a builder is imported only when a net is built.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from vgp_models.error_lines import error_line, first_line

BUILTIN = ("vgg", "densenet")
GROUP = "vgp_lab.architectures"
SETTING = "VGP_ARCHITECTURES"
COUNT_TIMEOUT_S = 300  # the child imports torch: seconds on an idle machine, minutes on a loaded one
_COUNTING = threading.Lock()  # one count at a time: the dashboard's sessions (threads) wait for it, not start more
NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")  # an arch name: short, lower case, safe in a label and a CLI
TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # module:function


class RegistryError(ValueError):
    """An architecture that is not registered, or whose builder does not load; the message is one line."""


@functools.cache
def _entry_points() -> dict[str, str]:
    """name -> "module:function" of every installed plugin (metadata only: nothing is imported)."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP) if NAME.fullmatch(ep.name)}


@functools.cache
def parse_setting(text: str) -> dict[str, str]:
    """VGP_ARCHITECTURES' text as name -> "module:function"; ValueError (one line naming the setting)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, target = (s.strip() for s in item.partition("="))
        if not NAME.fullmatch(name) or not TARGET.fullmatch(target):
            raise RegistryError(f"{SETTING} must be name=module:function,... (lower-case names), got {item[:60]!r}")
        if name in BUILTIN or name in out:
            raise RegistryError(f"{SETTING} names {name!r} twice or as a built-in architecture")
        out[name] = target
    return out


def registered() -> dict[str, str]:
    """Every registered architecture: name -> "module:function" (the setting wins over a plugin of that name)."""
    return {**_entry_points(), **parse_setting(os.environ.get(SETTING, ""))}


def names() -> tuple[str, ...]:
    """The built-in architectures, then the registered ones in name order: the Launch form's and `--arch`'s choices."""
    return BUILTIN + tuple(sorted(set(registered()) - set(BUILTIN)))


def builder(name: str) -> Callable[[Any], Any]:
    """The registered builder `name`, imported; ValueError (one line) when it is unknown or does not import."""
    target = registered().get(name)
    if target is None:
        raise RegistryError(f"architecture {name!r} is not registered on this host")
    module_name, _, function = target.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), function)
    except Exception as e:  # noqa: BLE001 - any import error of user code becomes one line
        raise RegistryError(f"architecture {name!r}: cannot load {target} ({error_line(e)})") from None
    if not callable(found):
        raise RegistryError(f"architecture {name!r}: {target} is not callable")
    return found


def check_setting() -> None:
    """Check VGP_ARCHITECTURES at a process's start: its form, then every builder it names is imported and built on
    the meta device in a child process (torch stays out of this one); RegistryError, one line naming the setting."""
    if not parse_setting(os.environ.get(SETTING, "")):
        return
    try:
        parameter_counts()
    except RegistryError as e:
        raise RegistryError(f"{SETTING}: {e}") from None


@functools.cache
def _counts(names: tuple[str, ...], setting: str, config_json: str) -> dict[str, int] | str:
    """The counts, or the one-line error (cached too: a broken plugin is not retried on every page). Counted here
    when this process has torch already (a job, the training CLI): a child would only import it again, seconds
    of CPU for milliseconds of counting. Else in a child (the dashboard, the submit check)."""
    if "torch" in sys.modules:
        from vgp_models import nets  # torch is loaded: nothing heavy left to import

        try:
            rows = nets.architectures(json.loads(config_json))
        except ValueError as e:  # RegistryError, ConfigError: their own one line, as the child prints it
            return first_line(e)[:300]
        except Exception as e:  # noqa: BLE001 - a builder is user code
            return error_line(e)[:300]
        return {row["arch"]: int(row["params"]) for row in rows if row["arch"] in names}
    command = [sys.executable, "-m", "vgp_models", "architectures", "--json", "--config", config_json]
    env = {**os.environ, SETTING: setting}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COUNT_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired:  # raised, not returned: a slow moment is not cached as a broken plugin
        raise RegistryError(f"counting the registered architectures took over {COUNT_TIMEOUT_S} s") from None
    if done.returncode != 0:  # the CLI's one line: "error: architecture 'x': cannot load ..."
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return lines[-1].removeprefix("error: ")[:300]
    return {row["arch"]: int(row["params"]) for row in json.loads(done.stdout) if row["arch"] in names}


def parameter_counts(config: dict[str, Any] | None = None) -> dict[str, int]:
    """Each registered architecture's parameter count for `config` (RunConfig's defaults when None) with its `arch`
    swapped in, counted on the meta device, in a child process where torch is not loaded, so that a torch-free
    process (the dashboard, the submit check) never loads it; cached per registry and config (its seed and arch
    aside: every arch is counted at once, and seeds share a count)."""
    extra = tuple(sorted(registered()))
    if not extra:
        return {}
    key = json.dumps({k: v for k, v in (config or {}).items() if k not in ("seed", "arch")}, sort_keys=True)
    with _COUNTING:
        counts = _counts(extra, os.environ.get(SETTING, ""), key)
    if isinstance(counts, str):
        raise RegistryError(counts)
    return counts
