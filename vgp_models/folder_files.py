"""Reading the files of a run folder that someone else wrote, within bounds.

A folder from a zip upload or a stranger's repository may hold a link to /etc/passwd, a FIFO that blocks a
read forever, a device that never ends, a 30 MiB CSV of zeros or JSON nested 100,000 deep. Here only a
regular file inside the folder is opened (never through a link; checked again on the open descriptor), a
file over its size cap is refused before it is read, CSVs are parsed as a stream with a cap on rows and on
line length, and JSON nesting past a fixed depth is refused. Every failure is a RunFolderError of one line
that names the file, never quoting what a link pointed at.
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from vgp_models.error_lines import first_line

MAX_LINE_BYTES = 4096
"""The longest CSV line read (a gradients.csv line is under 200 bytes)."""

MAX_JSON_DEPTH = 20
"""config.json nests three levels; deeper is refused before json.loads (whose recursion would overflow)."""


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked; the message is one line that names the file."""


def open_regular(path: Path, max_bytes: int) -> BinaryIO:
    """`path` opened for reading when it is a regular file of at most `max_bytes`; RunFolderError otherwise.

    A link is refused, not followed (O_NOFOLLOW, and lstat first so that the message never shows its target);
    O_NONBLOCK keeps a FIFO swapped in after the lstat from blocking the open, and fstat checks what was opened.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing") from None
    except OSError as e:
        raise RunFolderError(f"{path}: not readable ({e.strerror})") from None
    _check_regular(path, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise RunFolderError(f"{path}: not readable ({e.strerror})") from None
    info = os.fstat(fd)
    try:
        _check_regular(path, info.st_mode)
        if info.st_size > max_bytes:
            raise RunFolderError(f"{path}: {info.st_size:,} bytes, over the {max_bytes:,} a run's file may have")
    except RunFolderError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISLNK(mode):
        raise RunFolderError(f"{path}: a symbolic link; only regular files inside the folder are read")
    if not stat.S_ISREG(mode):
        raise RunFolderError(f"{path}: not a regular file (a folder, FIFO, socket or device); refused")


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes` (a file that grows while read stops there)."""
    with open_regular(path, max_bytes) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise RunFolderError(f"{path}: over the {max_bytes:,} bytes a run's file may have")
    return data


def _lines(path: Path, f: BinaryIO, max_bytes: int) -> Iterator[str]:
    """The file's lines without their ends. A line ending `\\r\\r\\n` (a Windows program writing through
    csv.writer's `\\r\\n` in text mode) is one line end, as `\\r\\n` and `\\n` are."""
    read = 0
    for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), start=1):
        read += len(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise RunFolderError(f"{path} line {number}: longer than {MAX_LINE_BYTES:,} bytes")
        if read > max_bytes:
            raise RunFolderError(f"{path}: over the {max_bytes:,} bytes a run's file may have")
        try:
            yield raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError:
            raise RunFolderError(f"{path} line {number}: not UTF-8 text") from None


def csv_rows(path: Path, header: list[str], max_rows: int, max_bytes: int, any_order: bool = False
             ) -> Iterator[tuple[int, dict[str, str]]]:  # fmt: skip
    """(line number, row) of a CSV with exactly `header`'s columns (in any order with `any_order`), streamed:
    at most `max_rows` rows, `max_bytes` bytes and MAX_LINE_BYTES a line. RunFolderError names file and line."""
    with open_regular(path, max_bytes) as f:
        reader = csv.reader(_lines(path, f, max_bytes), strict=True)
        try:
            got = next(reader, [])
            if (sorted(got) != sorted(header)) if any_order else (got != header):
                shown = ",".join(got)[:200] or "nothing"
                raise RunFolderError(f"{path} line 1: columns {','.join(header)} expected, got {shown}")
            for fields in reader:
                number = reader.line_num
                if number - 1 > max_rows:
                    raise RunFolderError(f"{path}: more than {max_rows:,} rows, the most a run's file may have")
                if len(fields) != len(got):
                    raise RunFolderError(f"{path} line {number}: {len(fields)} fields, {len(got)} expected")
                yield number, dict(zip(got, fields))
        except csv.Error as e:
            raise RunFolderError(f"{path} line {reader.line_num}: not readable as CSV ({e})") from None


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_depth(data: bytes) -> int:
    """How deep `data`'s arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", data)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def load_json(path: Path, max_bytes: int) -> Any:
    """A JSON file of at most `max_bytes`, nested at most MAX_JSON_DEPTH deep; RunFolderError otherwise."""
    data = read_capped(path, max_bytes)
    if json_depth(data) > MAX_JSON_DEPTH:
        raise RunFolderError(f"{path}: JSON nested deeper than {MAX_JSON_DEPTH} levels; not a run record")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise RunFolderError(f"{path}: not readable as JSON ({first_line(e)[:200]})") from None
