import json

import numpy as np
import pytest
import soundfile as sf
import torch

from ampcapture.capture.dataset import Capture, RandomWindows
from ampcapture.core.errors import CaptureError


@pytest.fixture
def capture(tmp_path):
    n = 20000
    x = np.arange(n, dtype=np.float64) / n  # the value tells the sample index
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    sf.write(str(aligned / "input.wav"), x, 48000, subtype="FLOAT")
    sf.write(str(aligned / "output.wav"), -x, 48000, subtype="FLOAT")
    split = {"audio": str(aligned), "train": [[1000, 6000], [8000, 15000]], "validation": [[16000, 18000]], "test": [[18000, 20000]]}
    (tmp_path / "split.json").write_text(json.dumps(split))
    return Capture.load(tmp_path / "split.json")


def _index(t: torch.Tensor) -> np.ndarray:
    return np.round(t.numpy().astype(np.float64) * 20000).astype(int)


def test_windows_stay_inside_one_region_and_line_up(capture):
    windows = RandomWindows([capture], "train", ny=500, pre_roll=300, seed=1)
    assert len(windows) == (4201 + 6201) // 500
    seen = set()
    for i in range(len(windows)):
        x, y = windows[i]
        assert x.shape == (800,) and y.shape == (500,)
        ix, iy = _index(x), _index(-y)
        assert np.array_equal(ix[300:], iy) and np.array_equal(np.diff(ix), np.ones(799))  # contiguous, target = last ny
        assert any(s <= ix[0] and ix[-1] < e for s, e in capture.regions["train"])
        seen.add(int(ix[0]))
    assert len(seen) > len(windows) // 2  # random starts, not a fixed grid


def test_epochs_draw_new_windows_deterministically(capture):
    windows = RandomWindows([capture], "train", ny=500, pre_roll=300, seed=1)
    first = windows[0][0]
    windows.set_epoch(1)
    assert not torch.equal(first, windows[0][0])
    windows.set_epoch(0)
    assert torch.equal(first, windows[0][0])


def test_validation_segment_has_its_history(capture):
    x, y = capture.segment("validation", pre_roll=300)
    assert x.numel() == 2300 and y.numel() == 2000
    assert _index(x)[0] == 15700 and np.array_equal(_index(x)[300:], _index(-y))


def test_every_span_of_a_region_is_a_segment_with_its_history(capture):
    capture.regions["test"] = [[3000, 3500], [9000, 9800]]
    spans = capture.segments("test", pre_roll=300)
    assert [(x.numel(), y.numel()) for x, y in spans] == [(800, 500), (1100, 800)]
    assert _index(spans[1][0])[0] == 8700 and np.array_equal(_index(spans[1][0])[300:], _index(-spans[1][1]))
    assert torch.equal(capture.segment("test", 300)[0], spans[0][0])


def test_too_long_windows_and_missing_split_are_clear_errors(capture, tmp_path):
    with pytest.raises(CaptureError, match="lower ny"):
        RandomWindows([capture], "train", ny=8000, pre_roll=0)
    with pytest.raises(CaptureError, match="run the split stage"):
        Capture.load(tmp_path / "nope" / "split.json")
