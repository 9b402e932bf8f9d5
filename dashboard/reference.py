"""The report's reference networks among the stored runs: which config is the report's VGG08 or VGG38 (for
Table 1's rows, and so the pair the Compare page opens with)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vgp_models.config import PRESETS

# What a Table 1 row's run must share with the report beyond its preset: width, no reduction shortcut and
# none of the other cures (a Kaiming-init or amplified VGG38 is not the report's VGG38). A stored config
# without one of these keys predates it and had this value.
REFERENCE = {"width": 32, "shortcut": "none", "arch": "vgg", "init": "default", "activation": "leaky_relu",
             "optimizer": "adam", "grad_amp_factor": 1.0}  # fmt: skip


def config_is(config: Mapping[str, Any] | None, preset: str, lr: float | None = None) -> bool:
    """Whether a stored config is `preset`'s reference network (REFERENCE's settings), at `lr`."""
    if not isinstance(config, Mapping):
        return False
    if any(config.get(k, v) != v for k, v in REFERENCE.items()):
        return False
    if any(config.get(k) != v for k, v in {"batch_norm": False, "residual": False, **PRESETS[preset]}.items()):
        return False
    return lr is None or math.isclose(float(config.get("lr", math.nan)), lr, rel_tol=1e-9)
