"""Hostile files for `render`, `bench` and `check`: real `.nam` files (WaveNet 0.7 and 0.5, LSTM,
an A2-style container) and WAV files, mutated (keys deleted, wrong types, huge, negative and
NaN numbers, deep nesting, truncation, damaged WAV headers) and fed to the command line in this
process. Every case must end in exit 0 (a mutation that left a playable file) or exit 1 with a
one-line error: never an exception out of `main`, never a hang. Used by tests/test_fuzz.py (a
few hundred cases) and benchmarks/fuzz.py (thousands, with the worst memory)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import resource
import signal
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ampcapture.cli import main as cli
from ampcapture.formats.nam import to_nam
from devtools.presets import preset, random_model

SR = 48000
VALUES = [None, "banana", [], {}, True, -1, 0, 1.5, 1e9, 2**63, -1e308, float("nan"), float("inf"), [[[1]]], {"_target_": "os.system"}]
SECONDS = 20  # a case that runs longer hangs


class Hang(Exception):
    pass


@dataclass
class Tally:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # what escaped main(), or hung

    @property
    def max_rss_mb(self) -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed_models() -> dict[str, dict[str, Any]]:
    """Real .nam dicts: the nano WaveNet as 0.7 and 0.5, an LSTM, a two-size container."""
    nano = preset("wavenet_nano")
    wavenet = to_nam(random_model(nano["architecture"], nano["config"]))
    legacy = to_nam(random_model(nano["architecture"], nano["config"]), version="0.5")
    lstm = to_nam(random_model("LSTM", {"hidden_size": 3, "num_layers": 1}))
    layer = {
        "input_size": 1,
        "condition_size": 1,
        "head_size": 1,
        "kernel_size": 3,
        "dilations": [1, 2, 4],
        "activation": "Tanh",
        "gated": False,
        "head_bias": True,
    }
    sizes = [{"architecture": "WaveNet", "config": {"head_scale": 0.02, "layers": [{**layer, "channels": c}]}} for c in (2, 4)]
    container = to_nam(random_model("SlimmableContainer", {"submodels": sizes}))
    return {"wavenet": wavenet, "wavenet_0.5": legacy, "lstm": lstm, "container": container}


def seed_wav(folder: Path, seconds: float = 0.2) -> Path:
    path = folder / "seed.wav"
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR, subtype="PCM_24")
    return path


def _paths(node: Any, here: tuple = ()) -> Iterator[tuple]:
    """Every key path of a .nam dict (a weights list counts once, by its first and last index)."""
    yield here
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*here, k))
    elif isinstance(node, list):
        indices = (0, len(node) - 1) if len(node) > 8 else range(len(node))
        for i in sorted(set(indices)):
            yield from _paths(node[i], (*here, i))


def _set(node: Any, path: tuple, value: Any, delete: bool = False) -> None:
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def mutated_nam(rng: random.Random, seeds: dict[str, dict[str, Any]]) -> tuple[str, bytes]:
    name = rng.choice(sorted(seeds))
    data = copy.deepcopy(seeds[name])
    paths = [p for p in _paths(data) if p]
    kind = rng.choice(["delete", "value", "value", "value", "nest", "truncate", "bytes", "weights"])
    if kind == "truncate" or kind == "bytes":
        text = bytearray(json.dumps(data).encode())
        if kind == "truncate":
            return f"{name}: truncated", bytes(text[: rng.randrange(len(text))])
        for _ in range(rng.randint(1, 8)):
            text[rng.randrange(len(text))] = rng.randrange(256)
        return f"{name}: bytes flipped", bytes(text)
    if kind == "nest":
        depth = rng.choice([40, 1000, 200_000])
        path = rng.choice(paths)
        _set(data, path, "NEST")
        text = json.dumps(data).replace('"NEST"', "[" * depth + "1" + "]" * depth, 1)
        return f"{name}: {path} nested {depth} deep", text.encode()
    if kind == "weights":
        path = next(p for p in _paths(data) if p and p[-1] == "weights")
        _set(data, path, rng.choice([[], [0.0], ["x"], [float("nan")] * 4, 5, None]))
        return f"{name}: weights replaced", json.dumps(data).encode()
    path = rng.choice(paths)
    if kind == "delete" and isinstance(path[-1], str):
        _set(data, path, None, delete=True)
        return f"{name}: {path} deleted", json.dumps(data).encode()
    value = rng.choice(VALUES)
    _set(data, path, value)
    return f"{name}: {path} = {str(value)[:30]}", json.dumps(data).encode()


def mutated_wav(rng: random.Random, seed: bytes) -> tuple[str, bytes]:
    data = bytearray(seed)
    kind = rng.choice(["rate", "channels", "bits", "format", "size", "truncate", "header bytes"])
    if kind == "rate":
        data[24:28] = struct.pack("<I", rng.choice([0, 1, 7, 2**31, 2**32 - 1, 384001]))
    elif kind == "channels":
        data[22:24] = struct.pack("<H", rng.choice([0, 3, 255, 65535]))
    elif kind == "bits":
        data[34:36] = struct.pack("<H", rng.choice([0, 1, 7, 12, 64, 65535]))
    elif kind == "format":
        data[20:22] = struct.pack("<H", rng.choice([0, 2, 3, 0x55, 0xFFFE, 0xFFFF]))
    elif kind == "size":
        at = data.find(b"data") + 4
        data[at : at + 4] = struct.pack("<I", rng.choice([0, 1, 2**31, 2**32 - 1]))
    elif kind == "truncate":
        data = data[: rng.randrange(len(data))]
    else:
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(min(64, len(data)))] = rng.randrange(256)
    return f"wav: {kind}", bytes(data)


def run_case(tally: Tally, args: list[str], what: str) -> None:
    """One command line in this process: exit 0 or 1, within SECONDS, no exception out of main."""
    tally.cases += 1

    def hang(*_):
        raise Hang

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(SECONDS)
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
            status = cli(args)
        said = err.getvalue().strip()
        named = said.startswith("error:") or (args[0] == "check" and "error(s)" in out.getvalue())  # check's verdicts go to its table
        if status not in (0, 1) or (status == 1 and not named) or "Traceback" in said:
            tally.failures.append(f"{what}: exit {status}: {said[:300]}")
        tally.outcomes["error" if status else "played"] += 1
    except Hang:
        tally.failures.append(f"{what}: no answer in {SECONDS} s")
    except BaseException as exc:  # noqa: BLE001 - what escapes main() is the finding
        tally.failures.append(f"{what}: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def fuzz(folder: Path, cases: int, seed: int = 0, say=None) -> Tally:
    """`cases` mutated files, about half .nam (rendered and benched), half WAV (rendered, checked)."""
    rng, tally = random.Random(seed), Tally()
    models, wav = seed_models(), seed_wav(folder)
    good_nam = folder / "good.nam"
    good_nam.write_text(json.dumps(models["wavenet"]))
    wav_bytes = wav.read_bytes()
    bench = ["--offline-seconds", "0.02", "--stream-seconds", "0.02", "--buffers", "64", "--runs", "1"]
    for i in range(cases):
        if i % 2 == 0:
            what, content = mutated_nam(rng, models)
            bad = folder / "bad.nam"
            bad.write_bytes(content)
            command = ["render", str(bad), str(wav), str(folder / "out.wav"), "--no-progress"] if i % 4 == 0 else ["bench", str(bad), *bench]
        else:
            what, content = mutated_wav(rng, wav_bytes)
            bad = folder / "bad.wav"
            bad.write_bytes(content)
            command = (
                ["render", str(good_nam), str(bad), str(folder / "out.wav"), "--no-progress"]
                if i % 4 == 1
                else ["check", str(wav), str(bad), "--expected-sample-rate", "0"]
            )
        run_case(tally, command, f"case {i} ({command[0]}, {what})")
        if say is not None and (i + 1) % 100 == 0:
            say(f"{i + 1} cases: {dict(tally.outcomes)}, {len(tally.failures)} failures, max RSS {tally.max_rss_mb:.0f} MB")
    return tally
