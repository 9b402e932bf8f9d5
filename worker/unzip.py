"""An uploaded .zip of run folders, unpacked safely into a temporary folder for worker.importer.

Every member is checked before the first byte is written, each failure one line that names the member as the
zip does (never a path of the server): at most MAX_MEMBERS members (counted from the zip's end record, before
its directory is parsed), no encrypted member, no path outside the zip's folder, no link or device, no name
longer than MAX_NAME, no path deeper than MAX_DEPTH, no two members at one path (nor a file where another
member needs a folder), no member over MAX_MEMBER_BYTES unpacked and no more than the upload cap in all.
Members are then streamed to disk one at a time.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from vgp_models.folder_files import RunFolderError
from vgp_models.run_folder import CONFIG_JSON, SUMMARY_CSV
from vgp_models.run_folder_reader import GRADIENTS_BYTES

MAX_MEMBERS = 10_000
"""Files and folders in one zip: 2,000 run folders of five files; 100,000 empty members took 17 s to unpack."""

MAX_MEMBER_BYTES = GRADIENTS_BYTES
"""The largest file a run folder holds (gradients.csv's cap); the reader refuses more anyway."""

MAX_NAME = 255  # one path component, as most file systems allow
MAX_DEPTH = 16  # folders in a member's path: a folder of experiments of run folders needs 3

_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_DIRECTORY_BYTES_PER_MEMBER = 46 + 2 * MAX_NAME  # a central directory entry with a long name, on average


def _directory_size(data: bytes) -> tuple[int, int]:
    """(members, central directory bytes) as the zip's end record states them, before zipfile reads the
    directory (which it does in full, whatever the count says)."""
    at = data.rfind(_END_RECORD, max(0, len(data) - _END_RECORD_SIZE - 65_535))
    if at < 0 or len(data) < at + _END_RECORD_SIZE:
        raise RunFolderError("not a readable zip (no end record)")
    members = int.from_bytes(data[at + 10 : at + 12], "little")
    size = int.from_bytes(data[at + 12 : at + 16], "little")
    return members, size


def open_zip(data: bytes, max_bytes: int) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The upload as a ZipFile and its members, every member checked (see the module docstring)."""
    if len(data) > max_bytes:
        raise RunFolderError(f"the zip is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB")
    members, size = _directory_size(data)
    if members > MAX_MEMBERS or size > MAX_MEMBERS * _DIRECTORY_BYTES_PER_MEMBER:  # 0xFFFF: a zip64 count
        raise RunFolderError(f"the zip holds more than {MAX_MEMBERS:,} files and folders; nothing imported")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
        raise RunFolderError(f"not a readable zip ({e})") from None
    if len(infos) > MAX_MEMBERS:
        raise RunFolderError(f"the zip holds more than {MAX_MEMBERS:,} files and folders; nothing imported")
    if sum(m.file_size for m in infos) > max_bytes:
        raise RunFolderError(f"the zip unpacks to more than {max_bytes / 2**20:.0f} MiB")
    _check_members(infos)
    return archive, infos


def _member_path(member: zipfile.ZipInfo) -> PurePosixPath:
    name = member.filename.replace("\\", "/")
    shown = repr(member.filename[:80] + ("..." if len(member.filename) > 80 else ""))
    path = PurePosixPath(name)
    if name.startswith("/") or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise RunFolderError(f"the zip holds {shown}, a path outside its folder; nothing imported")
    if (member.external_attr >> 16) & 0o170000 not in (0, 0o100000, 0o040000):  # a symlink or a device
        raise RunFolderError(f"the zip holds {shown}, not a plain file; nothing imported")
    if member.flag_bits & 0x1:
        raise RunFolderError(f"the zip holds {shown}, encrypted; unpack it and zip it again without a password")
    if any(len(part.encode()) > MAX_NAME for part in path.parts) or "\x00" in name:
        raise RunFolderError(f"the zip holds {shown}, a name over {MAX_NAME} bytes; nothing imported")
    if len(path.parts) > MAX_DEPTH:
        raise RunFolderError(f"the zip holds {shown}, {len(path.parts)} levels deep (at most {MAX_DEPTH})")
    if member.file_size > MAX_MEMBER_BYTES:
        raise RunFolderError(
            f"the zip holds {shown}, {member.file_size / 2**20:.0f} MiB unpacked; a run's file is at most "
            f"{MAX_MEMBER_BYTES / 2**20:.0f} MiB"
        )
    return path


def _check_members(infos: list[zipfile.ZipInfo]) -> None:
    files: dict[PurePosixPath, str] = {}
    folders: set[PurePosixPath] = set()
    for member in infos:
        path = _member_path(member)
        if member.is_dir():
            folders.add(path)
        elif path in files:
            raise RunFolderError(f"the zip holds {member.filename[:80]!r} twice; nothing imported")
        else:
            files[path] = member.filename
        folders.update(path.parents)
    if clash := next((p for p in files if p in folders), None):
        raise RunFolderError(f"the zip holds {files[clash][:80]!r} both as a file and as a folder; nothing imported")


def extract_zip(data: bytes, dest: Path, max_bytes: int) -> None:
    """Unpack an uploaded zip into `dest` (an empty folder), refusing (RunFolderError, one line) what could
    escape or explode; members are streamed to disk, never more than their header's size."""
    archive, infos = open_zip(data, max_bytes)
    root = dest.resolve()
    try:
        with archive:
            for member in infos:
                target = root.joinpath(*_member_path(member).parts)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "xb") as out:
                    shutil.copyfileobj(src, out)  # zipfile stops at the header's size and checks the CRC
    except (zipfile.BadZipFile, NotImplementedError, EOFError, RuntimeError) as e:  # a bad CRC, a password
        raise RunFolderError(f"not a readable zip ({e})") from None
    except OSError as e:  # the file system's own limits: say so without its path
        raise RunFolderError(f"the zip cannot be unpacked here ({e.strerror or type(e).__name__})") from None


def course_folders(data: bytes, max_bytes: int) -> list[str]:
    """The course-framework folders in an upload (summary.csv, no config.json), as the zip names them, sorted:
    the Runs page asks what each of them ran before importing."""
    _, infos = open_zip(data, max_bytes)
    names = {_member_path(m) for m in infos if not m.is_dir()}
    summaries = {p.parent for p in names if p.name == SUMMARY_CSV}
    return sorted(p.as_posix() for p in summaries if p / CONFIG_JSON not in names)
