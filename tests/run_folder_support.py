"""Run folders made the way results/ ships them: trained headless (`vgp_models.run_folder.train_into`) on the
tiny CIFAR fixture, checkpoints removed; trained once a session, copied by a test that changes one."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from vgp_models.config import RunConfig
from vgp_models.run_folder import train_into


@pytest.fixture(scope="session")
def reference_results(cifar_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results/ folder with one experiment, `demo`, of two one-epoch runs (VGG08 and VGG38, width 8)."""
    root = tmp_path_factory.mktemp("results")
    for preset in ("vgg08", "vgg38"):
        folder = root / "demo" / f"{preset}-lr0.001"
        config = RunConfig.from_preset(preset, width=8, epochs=1, batch_size=32, subset=64, device="cpu")
        assert train_into(folder, config, cifar_dir, resume=False).status == "completed"
        for name in ("last.pt", "best.pt"):
            (folder / name).unlink()
    return root


@pytest.fixture(scope="session")
def trained_run_folder(cifar_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed two-epoch VGG08 (width 8) run folder: 64 images in batches of 32, every step recorded."""
    folder = tmp_path_factory.mktemp("runs") / "vgg08-tiny"
    config = RunConfig.from_preset("vgg08", width=8, epochs=2, batch_size=32, subset=64, device="cpu")
    assert train_into(folder, config, cifar_dir, resume=False).status == "completed"
    for name in ("last.pt", "best.pt"):
        (folder / name).unlink()
    return folder


def zip_of(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """`folder` zipped with its own name at the top (as `zip -r demo.zip demo` does), plus `extra` members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, str(path.relative_to(folder.parent)))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()
