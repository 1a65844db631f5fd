"""RTNeural / AIDA-X model JSON for LSTM models (Keras layout, the one AIDA-X loads).

One recurrent layer and a dense head: `{"in_shape": [null, null, 1], "in_skip": 0|1,
"layers": [{"type": "lstm", "shape": [null, null, H], "weights": [W_ih^T, W_hh^T, b]},
{"type": "dense", "shape": [null, null, 1], "weights": [W^T, b]}]}`. Keras' gate order
(input, forget, cell, output) is torch's, so the matrices only need transposing. A parametric
LSTM with one or two knobs keeps them as inputs (in_shape 2 or 3): AIDA-X's PARAM1 and PARAM2
knobs (0..1) play them, as our normalized knob values.
"""

from __future__ import annotations

from typing import Any

from ampcapture.core.errors import AmpCaptureError
from ampcapture.models import LSTM, AmpModel

# Hidden sizes AIDA-X compiles its LSTM engine for.
AIDAX_HIDDEN_SIZES = (8, 12, 16, 20, 24, 32, 40, 64, 80)
# AIDA-X feeds a model [sample, PARAM1, PARAM2] (its knobs, 0..1) when in_shape asks for them.
AIDAX_MAX_KNOBS = 2


def to_aidax(model: AmpModel, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The AIDA-X JSON of an LSTM. AIDA-X starts every stream from a zero state, so a trained
    initial state is not carried over (the export report says so)."""
    if not model.has_aidax_layout:
        raise AmpCaptureError(
            "model",
            f"AIDA-X loads LSTM/GRU models, this one is a {model.architecture}",
            "train an LSTM for AIDA-X (model=lstm_small or lstm_guitarml); the .nam file serves the NAM plugin",
        )
    if model.num_layers != 1 or model.hidden_size not in AIDAX_HIDDEN_SIZES:
        raise AmpCaptureError(
            "model",
            f"AIDA-X loads one LSTM layer of hidden size {AIDAX_HIDDEN_SIZES}, this one has {model.num_layers} layer(s) of {model.hidden_size}",
            "train lstm_small or lstm_guitarml for AIDA-X",
        )
    if model.knobs > AIDAX_MAX_KNOBS:
        problem = f"AIDA-X plays models of up to {AIDAX_MAX_KNOBS} knobs (PARAM1, PARAM2), this one has {model.knobs}"
        raise AmpCaptureError("model", problem, "export one file per knob setting (--knob / --grid)")
    core = model.core
    bias = model.fused_bias(0).detach()
    return {
        "in_shape": [None, None, 1 + model.knobs],
        "in_skip": int(model.skip),
        "layers": [
            {
                "type": "lstm",
                "activation": "",
                "shape": [None, None, model.hidden_size],
                "weights": [core.weight_ih_l0.detach().T.tolist(), core.weight_hh_l0.detach().T.tolist(), bias.tolist()],
            },
            {
                "type": "dense",
                "activation": "",
                "shape": [None, None, 1],
                "weights": [model.head.weight.detach().T.tolist(), model.head.bias.detach().tolist()],
            },
        ],
        "metadata": {"samplerate": model.sample_rate, **(metadata or {})},
    }


def drops_initial_state(model: LSTM) -> bool:
    return bool(model.initial_hidden.abs().max() > 0 or model.initial_cell.abs().max() > 0)
