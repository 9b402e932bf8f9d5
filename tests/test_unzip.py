"""An uploaded zip of run folders: imported once, and every hostile zip refused in one line that names the member
as the zip does (never a path of the server), before anything is unpacked: paths outside, links, bombs,
encrypted members, name clashes, long names, deep paths, too many members."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from vgp_models.run_folder import RunFolderError
from worker import importer, unzip

CAP = 200 * 2**20


@pytest.fixture
def trained(reference_results: Path) -> Path:
    return reference_results / "demo" / "vgg08-lr0.001"


def zip_bytes(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symlink
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def folder_members(folder: Path, prefix: str) -> dict[str, bytes]:
    return {f"{prefix}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}


def test_zip_of_run_folders_imports_each_once(store_url: str, trained: Path) -> None:
    data = zip_bytes(folder_members(trained, "table1/vgg08-tiny"))
    assert importer.import_zip(data).lines() == ["table1/vgg08-tiny: imported as run #1"]
    again = importer.import_zip(data)
    assert again.lines() == ["table1/vgg08-tiny: already imported as run #1; nothing added"]


@pytest.mark.parametrize("evil", ["../escaped.csv", "run/../../escaped.csv", "/tmp/escaped.csv", "C:/x.csv"])
def test_zip_with_a_path_outside_is_refused_before_writing(trained: Path, tmp_path: Path, evil: str) -> None:
    dest = tmp_path / "unpack" / "here"
    dest.mkdir(parents=True)
    data = zip_bytes({**folder_members(trained, "run"), evil: b"x"})
    with pytest.raises(RunFolderError, match="a path outside its folder; nothing imported"):
        unzip.extract_zip(data, dest, CAP)
    assert not list(dest.iterdir()) and not (tmp_path / "unpack" / "escaped.csv").exists()


def test_zip_with_a_symlink_is_refused(trained: Path, tmp_path: Path) -> None:
    data = zip_bytes(folder_members(trained, "run"), links=("run/link",))
    with pytest.raises(RunFolderError, match="'run/link', not a plain file"):
        unzip.extract_zip(data, tmp_path, CAP)
    assert not list(tmp_path.iterdir())


def test_oversized_zip_and_zip_bomb_are_refused(tmp_path: Path) -> None:
    packed = zip_bytes({"run/big.csv": b"0" * 5_000_000})  # deflates to a few KiB
    assert len(packed) < 100_000
    with pytest.raises(RunFolderError, match="the zip unpacks to more than"):
        unzip.extract_zip(packed, tmp_path, max_bytes=1_000_000)
    with pytest.raises(RunFolderError, match=r"the zip is 0\.\d MiB; the limit is"):
        unzip.extract_zip(packed, tmp_path, max_bytes=1_000)
    assert not list(tmp_path.iterdir())
    with pytest.raises(RunFolderError, match="not a readable zip"):
        unzip.extract_zip(b"not a zip", tmp_path, CAP)


def encrypted_zip() -> bytes:
    """A zip whose one member has the 'encrypted' flag (zipfile cannot write encrypted members)."""
    data = bytearray(zip_bytes({"run/summary.csv": b"train_acc,train_loss,val_acc,val_loss\n"}))
    data[6] |= 0x1  # the local header's flag bits
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1  # the central directory's
    return bytes(data)


HOSTILE = {
    "encrypted": (encrypted_zip, "the zip holds 'run/summary.csv', encrypted; unpack it and zip it again without a "
                  "password"),
    "name clash": (lambda: zip_bytes({"run/a.csv": b"1", "run\\a.csv": b"2"}), "the zip holds 'run\\\\a.csv' twice"),
    "file and folder": (lambda: zip_bytes({"run": b"1", "run/a.csv": b"2"}), "'run' both as a file and as a folder"),
    "long name": (lambda: zip_bytes({"run/" + "n" * 300: b"1"}), "a name over 255 bytes; nothing imported"),
    "deep path": (lambda: zip_bytes({"d/" * 3000 + "a.csv": b"1"}), "3001 levels deep (at most 16)"),
    "too many": (lambda: zip_bytes({f"run/{i}": b"" for i in range(unzip.MAX_MEMBERS + 1)}),
                 "the zip holds more than 10,000 files and folders; nothing imported"),
    "big member": (lambda: zip_bytes({"run/gradients.csv": b"0" * (unzip.MAX_MEMBER_BYTES + 1)}),
                   "'run/gradients.csv', 48 MiB unpacked; a run's file is at most 48 MiB"),
}  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_zip_is_one_line_without_server_paths(store_url: str, kind: str) -> None:
    make, expected = HOSTILE[kind]
    with pytest.raises(RunFolderError) as caught:
        importer.import_zip(make())
    message = str(caught.value)
    assert expected in message and "\n" not in message and "vgp-import-" not in message and "/tmp" not in message


def test_member_cap_is_checked_before_the_directory_is_read(tmp_path: Path) -> None:
    """100,000 empty members: refused from the end record's count at once, not after unpacking (17 s)."""
    data = zip_bytes({f"r/{i}": b"" for i in range(100_000)})
    started = time.perf_counter()
    with pytest.raises(RunFolderError, match="more than 10,000 files"):
        unzip.extract_zip(data, tmp_path, CAP)
    assert time.perf_counter() - started < 1.0 and not list(tmp_path.iterdir())


def test_course_folders_are_named_as_the_zip_names_them(trained: Path) -> None:
    course = {f"exp/VGG_38_BN_RC_experiment/{n}": b"x" for n in ("summary.csv", "test_summary.csv")}
    data = zip_bytes({**folder_members(trained, "exp/vgg08"), **course, "exp/other/notes.txt": b""})
    assert unzip.course_folders(data, CAP) == ["exp/VGG_38_BN_RC_experiment"]
