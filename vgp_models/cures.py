"""The cures for VGG38's vanishing gradients that the lab puts side by side, by name.

Each cure is a set of RunConfig overrides applied to VGG38 (depth 38, everything else the reference's). The
Launch page's "Cures for VGG38" group and the depth sweep read this one list.
"""

from __future__ import annotations

from typing import Any

CURES: dict[str, dict[str, Any]] = {
    "none": {},  # the broken network itself
    "BN": {"batch_norm": True},
    "RC": {"residual": True},
    "BN+RC": {"batch_norm": True, "residual": True},
}
