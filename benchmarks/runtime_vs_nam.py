"""Our real-time engine against neural-amp-modeler's own Python model, and (with --core) against
NeuralAmpModelerCore, the NAM plugin's C++ engine, on the same `.nam` files, one thread, in one
run: offline RTF (a 30 s guitar-like file rendered whole) for every preset, and streaming RTF at
64 and 512-sample buffers.

    python benchmarks/runtime_vs_nam.py [--seconds 30] [--runs 3] [--core PATH/TO/benchmodel [--core-exact-tanh]]
                                        [--core-cmake PATH/TO/benchmodel]

The core is compared at its best: `--core` is a `benchmodel` built for this CPU, as our numba
kernels are (`g++ -O3 -march=native -DNDEBUG -std=c++20 -I. -IDependencies/eigen
-IDependencies/nlohmann tools/benchmodel.cpp NAM/*.cpp NAM/wavenet/*.cpp`, in a checkout of
NeuralAmpModelerCore), and ours/core is against it. `--core-cmake` adds a column for the build
the core's CMake makes (`cmake -DCMAKE_BUILD_TYPE=Release`: -Ofast for baseline x86-64, what a
portable plugin binary is), slower on a CPU with AVX-512.

Each preset gets random weights (speed does not depend on training) and is exported with our
exporter; NAM's A2 as one SlimmableContainer file, of which ours plays each size (`--size`, as
`ampcapture bench --size` does) while NAM's Python and the core get each size as a file of its
own (neural-amp-modeler's loader reads no container; benchmodel plays a container's largest).
NAM (0.13.0, in .benchmarks/nam-venv, installed the first time) loads each file with its own
`init_from_nam` and renders the same input. `--core` runs the core's `benchmodel` tool
(built from its source by you, see the README) on each file `--runs` times, right after ours:
it streams 2 s of audio in 64-sample buffers, with the core's fast tanh unless
`--core-exact-tanh`. Prints a table and writes .benchmarks/runtime_vs_nam.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ampcapture.audio.guitar import playing
from ampcapture.core.config import defaults
from ampcapture.core.files import write_json
from ampcapture.formats.nam import to_nam, write_nam
from ampcapture.runtime.bench import BenchSettings, benchmark

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devtools.nam_reference import ROOT, run_nam  # noqa: E402
from devtools.presets import preset_model  # noqa: E402  (random-weight presets)

PRESETS = ["wavenet_standard", "wavenet_lite", "wavenet_feather", "wavenet_nano", "lstm_small", "lstm_medium"]

NAM_TIMING = """
import json, sys, time, numpy as np, torch
from nam.models._from_nam import init_from_nam
torch.set_num_threads(1)
x = torch.from_numpy(np.load(sys.argv[1]))[None]
runs = int(sys.argv[2])
out = {}
for path in sys.argv[3:]:
    model = init_from_nam(json.load(open(path))).eval()
    with torch.no_grad():
        model(x[:, :48000], pad_start=True)  # warm-up
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            model(x, pad_start=True)
            times.append(time.perf_counter() - t)
    out[path] = float(np.median(times))
print(json.dumps(out))
"""


CORE_SAMPLES = 2 * 48000  # benchmodel: (48000 / 64) * 2 buffers of 64 samples


def core_rtf(benchmodel: Path, model: Path, runs: int, exact_tanh: bool) -> float:
    """Median RTF of NeuralAmpModelerCore's `benchmodel` on one file (it prints the time in ms)."""
    times = []
    for _ in range(runs):
        command = [str(benchmodel), *(["--no-fast-tanh"] if exact_tanh else []), str(model)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        ms = [float(line[:-2]) for line in done.stdout.splitlines() if re.fullmatch(r"[0-9.]+ms", line.strip())]
        if done.returncode != 0 or not ms:
            raise SystemExit(f"{benchmodel} failed on {model.name}: {(done.stderr or done.stdout).strip()[-500:]}")
        times.append(ms[-1] / 1000.0)
    sample_rate = json.loads(model.read_text()).get("sample_rate") or 48000.0
    return float(np.median(times)) / (CORE_SAMPLES / sample_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--core", type=Path, help="NeuralAmpModelerCore's benchmodel built for this CPU, to time the plugin's engine too")
    parser.add_argument("--core-cmake", type=Path, help="also its benchmodel as the core's CMake Release build makes it")
    parser.add_argument("--core-exact-tanh", action="store_true", help="run benchmodel with --no-fast-tanh (the core's exact tanh)")
    args = parser.parse_args()
    for flag, path in (("--core", args.core), ("--core-cmake", args.core_cmake)):
        if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
            parser.error(f"{flag} {path}: not an executable file (build tools/benchmodel of NeuralAmpModelerCore, see the README)")
    settings = defaults(BenchSettings, offline_seconds=args.seconds, stream_seconds=10.0, buffer_sizes=[64, 512], runs=args.runs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}  # row -> (the file ours plays, at which size, the same model as a plain file)
        for preset in PRESETS:
            path = Path(tmp) / f"{preset}.nam"
            write_nam(path, to_nam(preset_model(preset), {"name": preset}))
            files[preset] = (path, None, path)
        a2 = preset_model("a2")
        write_nam(Path(tmp) / "a2.nam", to_nam(a2, {"name": "a2"}))
        for i, (size, control) in enumerate(zip(a2.parts, a2.size_controls)):
            write_nam(Path(tmp) / f"a2_size{i}.nam", to_nam(size, {"name": f"a2 size {i}"}))
            files[f"a2 size {i}"] = (Path(tmp) / "a2.nam", control, Path(tmp) / f"a2_size{i}.nam")
        np.save(Path(tmp) / "x.npy", playing(args.seconds, 48000, seed=0))
        nam_seconds = json.loads(run_nam(NAM_TIMING, Path(tmp) / "x.npy", args.runs, *(str(plain) for _, _, plain in files.values())))
        for preset, (path, size, plain) in files.items():
            ours = benchmark(path, settings, progress=False, size=size)
            stream = {s["buffer"]: s["rtf"] for s in ours["streaming"]}
            nam_rtf = nam_seconds[str(plain)] / args.seconds
            rows.append(
                {
                    "preset": preset,
                    "parameters": ours["parameters"],
                    "macs_per_sample": ours["macs_per_sample"],
                    "nam_python_offline_rtf": nam_rtf,
                    "ours_offline_rtf": ours["offline"]["rtf"],
                    "offline_speedup": nam_rtf / ours["offline"]["rtf"],
                    "ours_stream_rtf_64": stream[64],
                    "ours_stream_rtf_512": stream[512],
                }
            )
            if args.core is not None:
                rows[-1]["core_stream_rtf_64"] = core_rtf(args.core, plain, args.runs, args.core_exact_tanh)
                rows[-1]["ours_over_core_64"] = stream[64] / rows[-1]["core_stream_rtf_64"]
            if args.core_cmake is not None:
                rows[-1]["core_cmake_stream_rtf_64"] = core_rtf(args.core_cmake, plain, args.runs, args.core_exact_tanh)
    core = (" core @64 ours/core" if args.core is not None else "") + (" cmake @64" if args.core_cmake is not None else "")
    print(
        f"{'preset':18s} {'params':>7s} {'MACs':>7s} {'NAM py offline':>15s} {'ours offline':>13s} {'speed-up':>9s} {'ours @64':>9s} {'ours @512':>10s}{core}"
    )
    for r in rows:
        line = (
            f"{r['preset']:18s} {r['parameters']:7d} {r['macs_per_sample']:7d} {r['nam_python_offline_rtf']:15.4f} "
            f"{r['ours_offline_rtf']:13.4f} {r['offline_speedup']:8.1f}x {r['ours_stream_rtf_64']:9.4f} {r['ours_stream_rtf_512']:10.4f}"
        )
        if args.core is not None:
            line += f" {r['core_stream_rtf_64']:8.4f} {r['ours_over_core_64']:9.2f}"
        if args.core_cmake is not None:
            line += f" {r['core_cmake_stream_rtf_64']:9.4f}"
        print(line)
    write_json(
        ROOT / ".benchmarks" / "runtime_vs_nam.json",
        {
            "seconds": args.seconds,
            "runs": args.runs,
            "core": str(args.core) if args.core else None,
            "core_cmake": str(args.core_cmake) if args.core_cmake else None,
            "core_fast_tanh": not args.core_exact_tanh if args.core else None,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
