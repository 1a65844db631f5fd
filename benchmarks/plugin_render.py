"""Does the NAM plugin play our files as we do? Each NAM 0.13 WaveNet feature on its own, in a
small model with random weights exported by our exporter, rendered by NeuralAmpModelerCore's
`render` tool (the plugin's C++ engine: 64-sample buffers, after its prewarm) and by our engine,
on one second of guitar-like audio. Our engine renders what neural-amp-modeler 0.13's Python
renders (the export tests hold it to 1e-5), so a feature over 1e-5 here is one where the
plugin's engine and NAM's trainer disagree (`ampcapture.formats.nam.plugin_differences` names
them, and `ampcapture export` warns of them).

    python benchmarks/plugin_render.py --render PATH/TO/NeuralAmpModelerCore/build/tools/render

Building `render` is the user's business (README: `cmake --build build --target render`, with
the AudioDSPTools submodule for its WAV reader).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ampcapture.audio.guitar import playing
from ampcapture.formats import nam as nam_file
from ampcapture.models.layout import FILM_POSITIONS
from ampcapture.runtime.load import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devtools.presets import random_model  # noqa: E402

SR = 48000
BASE = dict(input_size=1, condition_size=1, channels=4, head_size=1, kernel_size=3, dilations=[1, 2, 4], activation="Tanh")
FEATURES = {
    "standard layer": {},
    "gated (Sigmoid)": dict(gated=True),
    "gated (Tanh gate)": dict(gated=True, secondary_activation="Tanh"),
    "blended (PairBlend)": dict(gated="blended"),
    "bottleneck": dict(bottleneck=2),
    "head 1x1": dict(head1x1=3),
    "no layer 1x1": dict(layer1x1=False),
    "LeakyReLU slope 0.2": dict(activation={"name": "LeakyReLU", "negative_slope": 0.2}),
    "Hardtanh [-0.5, 0.7]": dict(activation={"name": "Hardtanh", "min_val": -0.5, "max_val": 0.7}),
    "LeakyHardtanh parameters": dict(activation={"name": "LeakyHardtanh", "min_val": -0.3, "max_val": 0.6, "min_slope": 0.05, "max_slope": 0.1}),
    "PReLU, one slope": dict(activation="PReLU"),
    "PReLU, a slope per channel": dict(activation={"name": "PReLU", "negative_slopes": [0.1, -0.2, 0.3, 0.4]}),
    "Softsigmoid": dict(activation="Softsigmoid"),
    **{f"FiLM {p}{' (no shift)' if not shift else ''}": dict(film={p: {"shift": shift}}) for p in FILM_POSITIONS[:-1] for shift in (True, False)},
    "FiLM layer1x1_post, blended layer": dict(gated="blended", film={"layer1x1_post": {}}),
    "FiLM head1x1_post": dict(head1x1=3, film={"head1x1_post": {}}),
}
WHOLE_MODEL = {
    "post-head": {"post_head": {"channels": 3, "activation": "Softsign", "out_channels": 1, "kernel_sizes": [3, 1, 2]}, "head_size": 2},
    "condition DSP": {"condition_dsp": {"head_scale": 0.5, "layers": [{**BASE, "head_size": 2}]}, "condition_size": 2},
}


def _config(name: str) -> dict:
    if name in WHOLE_MODEL:
        extra = dict(WHOLE_MODEL[name])
        layer = {**BASE, **{k: extra.pop(k) for k in ("head_size", "condition_size") if k in extra}}
        return {"head_scale": 0.1, "layers": [layer], **extra}
    return {"head_scale": 0.1, "layers": [{**BASE, **FEATURES[name]}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render", type=Path, required=True, help="NeuralAmpModelerCore's render tool")
    args = parser.parse_args()
    x = playing(1.0, SR, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sf.write(tmp / "in.wav", x, SR, subtype="FLOAT")
        print(f"{'feature':36s} {'max |ours - plugin|':>20s} {'peak':>6s}  named by plugin_differences")
        for name in [*FEATURES, *WHOLE_MODEL]:
            model = random_model("WaveNet", _config(name), seed=0, sample_rate=SR)
            path = tmp / "model.nam"
            nam_file.write_nam(path, nam_file.to_nam(model))
            done = subprocess.run([str(args.render), str(path), str(tmp / "in.wav"), str(tmp / "out.wav")], capture_output=True, text=True)
            if done.returncode:
                print(f"{name:36s} the plugin's engine failed: {done.stderr.strip().splitlines()[-1]}")
                continue
            theirs = sf.read(tmp / "out.wav", dtype="float32")[0]
            ours = load_model(path).engine.render(x)
            named = "yes" if nam_file.plugin_differences(model) else "-"
            print(f"{name:36s} {np.max(np.abs(ours - theirs[: ours.size])):20.1e} {np.max(np.abs(ours)):6.3f}  {named}")


if __name__ == "__main__":
    main()
