import numpy as np
import pytest
import soundfile as sf

from ampcapture.audio import read_audio, write_audio


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_24"])
def test_writes_are_byte_reproducible_and_read_back(tmp_path, subtype):
    x = np.sin(np.arange(4800) / 10.0) * 0.5
    write_audio(tmp_path / "a.wav", x, 48000, subtype)
    write_audio(tmp_path / "b.wav", x, 48000, subtype)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()  # DVC hashes stay stable
    audio = read_audio(tmp_path / "a.wav")
    assert audio.sample_rate == 48000 and audio.subtype == subtype and np.allclose(audio.samples, x, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]  # no temp files left
