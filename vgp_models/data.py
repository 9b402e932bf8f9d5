"""CIFAR-100 as device tensors: the coursework split, and augmentation as batched tensor ops.

Read the standard `cifar-100-python` pickles once, keep the images as uint8 (N, 3, 32, 32) on the
training device, and crop, flip and normalise whole batches there: no DataLoader, no per-image Python.
Semantics match the reference pipeline (torchvision RandomCrop(32, padding=4), RandomHorizontalFlip(),
ToTensor(), Normalize(MEAN, STD)); tests check offsets, flip rate and normalised values against it.
"""

from __future__ import annotations

import codecs
import functools
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vgp_models.error_lines import error_line

FOLDER = "cifar-100-python"

DEFAULT_DATA_DIR = "var/data"
"""The folder holding FOLDER when VGP_DATA_DIR is unset (relative to the repo root under `make run`)."""
# The framework reuses CIFAR-10's constants for CIFAR-100 (experiment.md).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
PAD = 4
NUM_CLASSES = 100


class DataError(Exception):
    """The data folder is missing or malformed; the message is one line that names the file."""


def coursework_split(n: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Train and val indices into the official train set, exactly as the course framework drew them.

    Train = RandomState(0).choice(n, 95% of n, replace=False), in that order (47,500 of 50,000);
    val = the rest, ascending (2,500). The split seed is always 0, whatever the run's seed.
    """
    train = np.random.RandomState(0).choice(n, n * 19 // 20, replace=False)
    val = np.setdiff1d(np.arange(n), train)  # setdiff1d returns sorted values
    return train, val


_NUMPY_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy.core or numpy._core, whichever this numpy has
_NUMPY_FROMBUFFER = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]  # protocol 5's out-of-band array buffers
PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,  # the official files (numpy 1.x, Python 2)
    ("numpy._core.multiarray", "_reconstruct"): _NUMPY_RECONSTRUCT,  # re-pickled with numpy 2
    ("numpy.core.numeric", "_frombuffer"): _NUMPY_FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _NUMPY_FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at protocol 2
}
"""Everything a CIFAR-100 pickle may name: dicts, lists, bytes, str and ints need no global, arrays these."""


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only what the CIFAR format holds. The data folder may be shared storage, and a
    plain pickle runs any function it names (os.system, ...): here naming anything else fails before it runs."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which no CIFAR file does: refused") from None


def _read_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from one pickle, or a DataError naming the file."""
    if not path.is_file():
        raise DataError(f"missing CIFAR-100 file {path}")
    try:
        with open(path, "rb") as f:
            raw = _CifarUnpickler(f, encoding="bytes").load()
        entries = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
        data = np.asarray(entries["data"])
        labels = np.asarray(entries["fine_labels"], dtype=np.int64)
    except (KeyError, AttributeError) as e:
        raise DataError(f"{path} lacks the CIFAR-100 keys 'data' and 'fine_labels' ({e})") from None
    except Exception as e:  # a truncated or foreign file: the user needs the file's name, not the traceback
        raise DataError(f"cannot read {path} as a CIFAR-100 pickle ({type(e).__name__}: {e})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: 'data' must be N x 3072 uint8, got {data.shape} {data.dtype}")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(labels)} labels for {len(data)} images")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(f"{path}: fine_labels must lie in 0..99, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def find_folder(data_dir: str | Path, download: bool = False) -> Path:
    """The `cifar-100-python` folder under data_dir, downloading it with torchvision when asked."""
    folder = Path(data_dir) / FOLDER
    failed = ""
    if not folder.is_dir() and download:
        import torchvision

        try:
            torchvision.datasets.CIFAR100(str(data_dir), train=True, download=True)
        except Exception as e:  # no internet, a proxy, a full disk: say so on the same line
            failed = f"; torchvision's download failed ({error_line(e)[:250]})"
    if not folder.is_dir():
        raise DataError(
            f"no CIFAR-100 at {folder}: put the standard cifar-100-python folder (train, test, meta) there "
            f"and point VGP_DATA_DIR at its parent{failed}"
        )
    return folder


@dataclass
class Split:
    images: torch.Tensor  # (N, 3, 32, 32) uint8, on the device
    labels: torch.Tensor  # (N,) int64, on the device

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Cifar100:
    train: Split
    val: Split
    test: Split


def data_dir_from_env() -> str:
    """VGP_DATA_DIR, else DEFAULT_DATA_DIR: where the jobs and the command line look for CIFAR-100."""
    return os.environ.get("VGP_DATA_DIR") or DEFAULT_DATA_DIR


def load_cifar100(
    data_dir: str | Path, device: str | torch.device = "cpu", subset: int = 0, download: bool = False
) -> Cifar100:
    """The coursework's train/val/test splits as device tensors; `subset` keeps at most that many of each."""
    folder = find_folder(data_dir, download)
    train_images, train_labels = _read_pickle(folder / "train")
    test_images, test_labels = _read_pickle(folder / "test")
    train_idx, val_idx = coursework_split(len(train_labels))
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise DataError(f"{folder / 'train'} holds {len(train_labels)} images: too few for a train/val split")
    if subset:
        train_idx, val_idx = train_idx[:subset], val_idx[:subset]
        test_images, test_labels = test_images[:subset], test_labels[:subset]

    def to_device(images: np.ndarray, labels: np.ndarray) -> Split:
        return Split(torch.from_numpy(np.ascontiguousarray(images)).to(device), torch.from_numpy(labels).to(device))

    return Cifar100(
        train=to_device(train_images[train_idx], train_labels[train_idx]),
        val=to_device(train_images[val_idx], train_labels[val_idx]),
        test=to_device(test_images, test_labels),
    )


@functools.cache
def _mean_std(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """MEAN and STD as (1, 3, 1, 1) tensors on `device`, made once: not a host-to-device copy per batch."""
    return (torch.tensor(MEAN, device=device).view(1, 3, 1, 1), torch.tensor(STD, device=device).view(1, 3, 1, 1))


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32, as ToTensor() then Normalize(MEAN, STD)."""
    mean, std = _mean_std(images.device)
    return (images.float().div_(255) - mean) / std


def crop_flip_indices(
    batch: int, generator: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image draws: crop offsets dy, dx in 0..2*PAD (uniform, as RandomCrop) and a flip mask (p = 0.5)."""
    offsets = torch.randint(0, 2 * PAD + 1, (2, batch), generator=generator, device=device)
    flip = torch.rand(batch, generator=generator, device=device) < 0.5
    return offsets[0], offsets[1], flip


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop 32 from the zero-padded (by 4) image, then a horizontal flip, for a uint8 batch at once.

    The crop and the flip are one gather: row index dy + i, column index dx + j (or dx + 31 - j flipped).
    """
    b, c, h, w = images.shape
    dy, dx, flip = crop_flip_indices(b, generator, images.device)
    padded = torch.nn.functional.pad(images, (PAD, PAD, PAD, PAD))  # (B, C, H+8, W+8), zeros as RandomCrop's fill
    ar_h = torch.arange(h, device=images.device)
    ar_w = torch.arange(w, device=images.device)
    rows = dy[:, None] + ar_h  # (B, H)
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - ar_w, ar_w)  # (B, W)
    batch_idx = torch.arange(b, device=images.device)[:, None, None, None]
    chan_idx = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch_idx, chan_idx, rows[:, None, :, None], cols[:, None, None, :]]
