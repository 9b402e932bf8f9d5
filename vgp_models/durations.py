"""A duration as people read it (torch-free): the CLI's progress lines and the dashboard's ETAs write it alike."""

from __future__ import annotations

import math


def fmt_duration(seconds: float | None) -> str:
    """'2.5 s', '45 s', '3 min 20 s', '2 h 05 min'; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
