"""The cures for VGG38's vanishing gradients that the lab puts side by side, by name.

Each cure is a set of RunConfig overrides applied to VGG38 (depth 38, everything else the reference's, lr
1e-3 included), one change each: the report's two (BN, RC) and both together, then the others its
introduction and future work name. The Launch page's "Cures for VGG38" group and the depth sweep read this
one list.
"""

from __future__ import annotations

from typing import Any

CURES: dict[str, dict[str, Any]] = {
    "none": {},  # the broken network itself
    "BN": {"batch_norm": True},
    "RC": {"residual": True},
    "BN+RC": {"batch_norm": True, "residual": True},
    "Kaiming init": {"init": "kaiming"},
    "ReLU": {"activation": "relu"},
    "SGD": {"optimizer": "sgd"},  # momentum 0.9, at the same lr as the others
    # Basodi et al. (2020): half the activations, drawn from the seed, pass back twice the gradient
    "Gradient amplification": {"grad_amp_factor": 2.0, "grad_amp_ratio": 0.5, "grad_amp_layers": "activations"},
    "DenseNet": {"arch": "densenet"},  # dense connectivity alone: no BN, like VGG38
}
