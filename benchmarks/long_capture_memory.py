"""Peak memory of every step on a long capture: `check`, the align and split stages, and a short
training (whose validation and test regions are 10% of the capture each). Target: a 2-hour
48 kHz pair fits in 4 GB at every step.

    .venv/bin/python benchmarks/long_capture_memory.py --minutes 120

The pair is written block by block into a scratch folder (a minute of guitar-like playing
repeated at changing levels, through a clipping stage with 300 samples of latency and a -80 dB
noise floor, 24-bit PCM as a recording comes). Each step runs in its own process; its peak
resident memory is what the kernel reports for that process (wait4's ru_maxrss).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from ampcapture.core.config import preset

ROOT = Path(__file__).resolve().parents[1]
SR = 48000
LATENCY = 300


def write_pair(folder: Path, minutes: float) -> None:
    from ampcapture.audio import guitar

    folder.mkdir(parents=True, exist_ok=True)
    minute = guitar.render_notes(guitar.perform(60.0, seed=5), 60.0, SR, seed=5).astype(np.float32)
    rng = np.random.default_rng(0)
    delay = np.zeros(LATENCY, np.float32)
    with sf.SoundFile(folder / "input.wav", "w", SR, 1, "PCM_24") as fin, sf.SoundFile(folder / "output.wav", "w", SR, 1, "PCM_24") as fout:
        for i in range(int(np.ceil(minutes))):
            x = minute * (0.5 + 0.4 * np.sin(i))
            fin.write(x)
            y = np.concatenate([delay, 0.5 * np.tanh(4 * x)])
            delay = y[-LATENCY:]
            fout.write(y[:-LATENCY] + 1e-4 * rng.standard_normal(x.size).astype(np.float32))


def peak_rss_gb(code: str, quiet: bool = False) -> tuple[float, float]:
    """Run `code` in a fresh Python; its peak resident set (GB) and wall time (s)."""
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL if quiet else None)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step failed (exit {os.waitstatus_to_exitcode(status)}): {code}")
    return usage.ru_maxrss / 2**20, time.time() - start  # ru_maxrss is in kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--model", default="wavenet_standard", help="a preset in conf/model/")
    parser.add_argument("--limit-gb", type=float, default=4.0)
    parser.add_argument("--keep", help="scratch folder to use and keep (default: a temp folder, removed)")
    args = parser.parse_args()
    scratch = Path(args.keep or tempfile.mkdtemp(prefix="long_capture_"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["capture"] = "long"
    params["paths"] = {key: str(scratch / key) for key in params["paths"]}
    params["model"] = preset(args.model)
    params["trainer"].update(max_epochs=1, progress_bar=False)
    params["train"].update(windows_per_epoch=32, resume=False)
    params["logger"].update(mlflow=False)
    cfg_file = scratch / "params.yaml"
    cfg_file.parent.mkdir(parents=True, exist_ok=True)
    cfg_file.write_text(yaml.safe_dump(params))
    capture = scratch / "captures" / "long"
    if not (capture / "output.wav").is_file():
        print(f"writing a {args.minutes:g}-minute pair in {capture} ...", flush=True)
        write_pair(capture, args.minutes)
    load = f"import yaml; params = yaml.safe_load(open({str(cfg_file)!r}))"
    steps = {
        "check": f"from ampcapture.cli import main; import sys; sys.exit(main(['check', {str(capture / 'input.wav')!r}, {str(capture / 'output.wav')!r}]))",
        "align": f"{load}; from ampcapture.stages import align; align.run(params)",
        "split": f"{load}; from ampcapture.stages import split; split.run(params)",
        "train": f"{load}; from ampcapture.training.fit import train; r = train(params, replace=True); "
        "print('validation ESR', r['validation_esr'], 'test ESR', r['test_esr'])",
    }
    rows = []
    for name, code in steps.items():
        gb, seconds = peak_rss_gb(code, quiet=name == "check")
        rows.append((name, gb, seconds))
        print(f"{name}: peak {gb:.2f} GB, {seconds:.0f} s", flush=True)
    size = sum(f.stat().st_size for f in capture.iterdir()) / 2**20
    print(f"\n{args.minutes:g}-minute capture ({size:.0f} MB of 24-bit WAV), model {args.model}, limit {args.limit_gb} GB")
    for name, gb, seconds in rows:
        print(f"  {name:6s} {gb:5.2f} GB  {'ok' if gb <= args.limit_gb else 'OVER'}  ({seconds:.0f} s)")
    if not args.keep:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(0 if all(gb <= args.limit_gb for _, gb, _ in rows) else 1)


if __name__ == "__main__":
    main()
