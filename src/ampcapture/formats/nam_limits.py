"""What a `.nam` file may be, checked before it is parsed or anything is allocated: its size,
JSON nesting, version and sample rate (a file is data from anywhere: a download, a forum post).
The sizes of the model it holds are bounded by `models.limits`."""

from __future__ import annotations

import math
import os
import re
from typing import Any

from ampcapture.core.errors import ModelFileError

MAX_FILE_BYTES = 256 * 2**20  # NAM's largest models are a few MB of JSON
MAX_DEPTH = 32  # nesting of JSON objects and lists (a container of a WaveNet with a condition DSP: about 10)
READ_VERSIONS = ((0, 5), (0, 7))  # the .nam versions ampcapture reads: 0.5.x to 0.7.x
SAMPLE_RATES = (8000.0, 384000.0)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_FIX = "the file is damaged or not made by NAM; export it again"


def check_file_size(path: os.PathLike, size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ModelFileError(path, f"is {size / 2**20:.0f} MB, more than any .nam model (limit {MAX_FILE_BYTES // 2**20} MB)", _FIX)


def check_depth(data: Any, where: Any) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelFileError(where, f"nests its JSON more than {MAX_DEPTH} levels deep", _FIX)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def check_version(version: Any, where: Any) -> None:
    """Versions 0.5 to 0.7 are read; a missing one passes (our own dicts, a container's parts)."""
    if version is None:
        return
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise ModelFileError(where, f"has version {str(version)[:40]!r}, which is no NAM file version (x.y.z)", _FIX)
    major_minor = (int(match[1]), int(match[2]))
    if major_minor > READ_VERSIONS[1]:
        raise ModelFileError(
            where, f"was written by a newer NAM ({match[1]}.{match[2]}); ampcapture reads up to 0.7", "update ampcapture, or export the model as 0.7 from NAM"
        )
    if major_minor < READ_VERSIONS[0]:
        raise ModelFileError(
            where, f"was written by an old NAM ({match[1]}.{match[2]}); ampcapture reads 0.5 to 0.7", "open it in a current NAM and save it again"
        )


def checked_sample_rate(value: Any, where: Any) -> float:
    """The model's rate: NAM's default 48 kHz when absent, else a finite number in SAMPLE_RATES."""
    if value is None:
        return 48000.0
    low, high = SAMPLE_RATES
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and low <= value <= high):
        raise ModelFileError(where, f"has sample_rate {str(value)[:40]}: a model's rate is a number from {low:g} to {high:g} Hz", _FIX)
    return float(value)
