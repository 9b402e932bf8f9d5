"""CIFAR-100 on tensors: the coursework split, augmentation and normalisation against torchvision, bad folders.

The reference pipeline is torchvision's RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(),
Normalize(MEAN, STD) on PIL images; here each piece is compared with torchvision's own functions.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from conftest import write_cifar100
from PIL import Image

from vgp_models.data import (
    MEAN,
    STD,
    DataError,
    augment,
    coursework_split,
    crop_flip_indices,
    load_cifar100,
    normalise,
)


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def to_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).numpy())  # (3, H, W) -> (H, W, 3), as the pickles are read


# ---- the split ----------------------------------------------------------------------------------


def test_coursework_split_is_the_frameworks() -> None:
    np.random.seed(1234)  # neither the global numpy nor the torch seed may matter
    torch.manual_seed(1234)
    train, val = coursework_split()
    assert len(train) == 47_500 and len(val) == 2_500
    np.testing.assert_array_equal(train, np.random.RandomState(0).choice(50_000, 47_500, replace=False))
    assert len(set(train.tolist()) | set(val.tolist())) == 50_000  # disjoint, and together all 50,000
    assert np.all(np.diff(val) > 0)  # ascending
    np.random.seed(99)
    torch.manual_seed(99)
    train2, val2 = coursework_split()
    np.testing.assert_array_equal(train, train2)
    np.testing.assert_array_equal(val, val2)


def test_load_follows_the_split(cifar_dir: Path) -> None:
    with open(cifar_dir / "cifar-100-python" / "train", "rb") as f:
        raw = pickle.load(f)
    images = raw[b"data"].reshape(-1, 3, 32, 32)
    labels = np.asarray(raw[b"fine_labels"])
    train_idx, val_idx = coursework_split(len(labels))
    data = load_cifar100(cifar_dir, "cpu")
    assert (len(data.train), len(data.val), len(data.test)) == (285, 15, 100)
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    np.testing.assert_array_equal(data.train.images.numpy(), images[train_idx])
    np.testing.assert_array_equal(data.train.labels.numpy(), labels[train_idx])
    np.testing.assert_array_equal(data.val.images.numpy(), images[val_idx])
    np.testing.assert_array_equal(data.val.labels.numpy(), labels[val_idx])

    small = load_cifar100(cifar_dir, "cpu", subset=10)
    assert (len(small.train), len(small.val), len(small.test)) == (10, 10, 10)
    np.testing.assert_array_equal(small.train.images.numpy(), images[train_idx[:10]])


# ---- augmentation -------------------------------------------------------------------------------


def test_crop_offsets_are_uniform_and_flips_half() -> None:
    n = 90_000
    dy, dx, flip = crop_flip_indices(n, torch.Generator().manual_seed(0), torch.device("cpu"))
    for offsets in (dy, dx):
        counts = torch.bincount(offsets, minlength=9)
        assert len(counts) == 9  # 0..8 only: RandomCrop(32, padding=4)'s range
        assert counts.min() > 0
        # each value 1/9 = 10,000 expected; binomial sd ~94, so 600 is over 6 sd
        assert (counts - n / 9).abs().max() < 600, counts
    assert abs(flip.float().mean().item() - 0.5) < 0.01
    assert not torch.equal(dy, dx)  # two separate draws


def test_augment_equals_torchvision_pad_crop_flip() -> None:
    images = random_images(64)
    generator = torch.Generator().manual_seed(7)
    replay = torch.Generator().manual_seed(7)  # the same stream, to know the draws augment() makes
    dy, dx, flip = crop_flip_indices(len(images), replay, torch.device("cpu"))
    assert 0 < flip.sum() < len(images)
    out = augment(images, generator)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    for i, image in enumerate(images):
        ref = TF.crop(TF.pad(to_pil(image), 4, fill=0), int(dy[i]), int(dx[i]), 32, 32)  # top, left, height, width
        if flip[i]:
            ref = TF.hflip(ref)
        np.testing.assert_array_equal(out[i].permute(1, 2, 0).numpy(), np.asarray(ref))


def test_augment_is_a_function_of_the_generator() -> None:
    images = random_images(16)
    a = augment(images, torch.Generator().manual_seed(3))
    b = augment(images, torch.Generator().manual_seed(3))
    c = augment(images, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_normalise_equals_totensor_normalize() -> None:
    images = random_images(8)
    reference = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    expected = torch.stack([reference(to_pil(image)) for image in images])
    out = normalise(images)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


# ---- bad folders --------------------------------------------------------------------------------


def write_pickle(path: Path, obj: object) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def good_dict(n: int = 5) -> dict:
    return {b"data": np.zeros((n, 3072), np.uint8), b"fine_labels": [1] * n}


BREAKAGES = {
    "missing_test": ("test", None),
    "garbage_bytes": ("train", b"\x00\x01not a pickle at all\xff" * 10),
    "truncated": ("test", "truncate"),
    "wrong_shape": ("train", {b"data": np.zeros((5, 1024), np.uint8), b"fine_labels": [1] * 5}),
    "wrong_dtype": ("test", {b"data": np.zeros((5, 3072), np.float32), b"fine_labels": [1] * 5}),
    "label_out_of_range": ("train", {b"data": np.zeros((5, 3072), np.uint8), b"fine_labels": [0, 1, 2, 3, 100]}),
    "negative_label": ("test", {b"data": np.zeros((5, 3072), np.uint8), b"fine_labels": [0, -1, 2, 3, 4]}),
    "label_count": ("train", {b"data": np.zeros((5, 3072), np.uint8), b"fine_labels": [1] * 4}),
    "missing_keys": ("train", {b"data": np.zeros((5, 3072), np.uint8), b"coarse_labels": [1] * 5}),
    "not_a_dict": ("test", [1, 2, 3]),
    "too_few_to_split": ("train", {b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [1]}),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_bad_files_give_one_line_naming_the_file(tmp_path: Path, breakage: str) -> None:
    write_cifar100(tmp_path, n_train=20, n_test=10)
    name, content = BREAKAGES[breakage]
    path = tmp_path / "cifar-100-python" / name
    if content is None:
        path.unlink()
    elif content == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write_pickle(path, content)
    with pytest.raises(DataError) as err:
        load_cifar100(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message


def test_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_cifar100(tmp_path / "nowhere")
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "nowhere" / "cifar-100-python") in message


def test_good_files_load(tmp_path: Path) -> None:
    write_cifar100(tmp_path, n_train=20, n_test=10)
    str_keys = {key.decode(): value for key, value in good_dict().items()}  # str keys work as well as bytes keys
    write_pickle(tmp_path / "cifar-100-python" / "test", str_keys)
    data = load_cifar100(tmp_path)
    assert len(data.test) == 5 and data.test.images.shape == (5, 3, 32, 32)


def test_a_failed_download_still_says_where_to_put_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network is torchvision's business; what is ours is the one line the user gets when it fails."""
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("Name or service not known\nsecond line")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    with pytest.raises(DataError) as err:
        load_cifar100(tmp_path, download=True)
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "cifar-100-python") in message and "VGP_DATA_DIR" in message
    assert message.endswith("torchvision's download failed (OSError: Name or service not known)")


# ---- untrusted pickles --------------------------------------------------------------------------


class RunsACommand:
    """A pickle that calls os.system when loaded by a plain unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused_naming_the_file(tmp_path: Path) -> None:
    write_cifar100(tmp_path, n_train=20, n_test=10)
    marker = tmp_path / "ran"
    path = tmp_path / "cifar-100-python" / "train"
    write_pickle(path, {**good_dict(20), b"batch_label": RunsACommand(marker)})
    with pytest.raises(DataError) as err:
        load_cifar100(tmp_path)
    message = str(err.value)
    assert not marker.exists()
    assert "\n" not in message and str(path) in message and "system" in message and "refused" in message


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_the_cifar_format_still_loads_at_every_protocol(tmp_path: Path, protocol: int) -> None:
    """The official files are Python 2 pickles naming numpy.core.multiarray._reconstruct; re-pickled copies
    name numpy._core (numpy 2) and, at protocol 2, _codecs.encode for bytes."""
    write_cifar100(tmp_path, n_train=20, n_test=10)
    path = tmp_path / "cifar-100-python" / "test"
    content = {**good_dict(7), b"batch_label": b"testing batch 1 of 1", b"filenames": [b"a.png"] * 7}
    raw = pickle.dumps(content, protocol=protocol)
    if protocol == 2:  # as numpy 1.x wrote them
        assert b"numpy._core.multiarray\n_reconstruct" in raw
        raw = raw.replace(b"numpy._core.multiarray\n_reconstruct", b"numpy.core.multiarray\n_reconstruct")
    path.write_bytes(raw)
    data = load_cifar100(tmp_path)
    assert len(data.test) == 7 and data.test.labels.tolist() == [1] * 7
