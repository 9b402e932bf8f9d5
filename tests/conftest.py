"""Shared fixtures: a tiny CIFAR-100-format folder, so that a fresh clone tests without the real set."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest


def write_cifar100(root: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Write train/test/meta pickles in the standard `cifar-100-python` layout under root; return root.

    Images are class-dependent colour blobs plus noise, so that a small net can learn something.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 100, size=n)
        base = (labels[:, None] * 37 % 256).astype(np.int64)
        data = np.clip(base + rng.integers(-40, 40, size=(n, 3072)), 0, 255).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"fine_labels": labels.tolist(), b"coarse_labels": (labels // 5).tolist()}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"class_{i}".encode() for i in range(100)]}, f)
    return root


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VGP_DATA_DIR holding a tiny cifar-100-python/ (300 train, 100 test images)."""
    return write_cifar100(tmp_path_factory.mktemp("data"))
