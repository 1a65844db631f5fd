import os
import stat

import numpy as np
import pytest
import soundfile as sf

from ampcapture.audio import io as audio_io
from ampcapture.audio.io import read_audio, read_channel, write_audio
from ampcapture.core.errors import CaptureError
from ampcapture.core.files import atomic_dir, write_json


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_24"])
def test_writes_are_byte_reproducible_and_read_back(tmp_path, subtype):
    x = np.sin(np.arange(4800) / 10.0) * 0.5
    write_audio(tmp_path / "a.wav", x, 48000, subtype)
    write_audio(tmp_path / "b.wav", x, 48000, subtype)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()  # DVC hashes stay stable
    audio = read_audio(tmp_path / "a.wav")
    assert audio.sample_rate == 48000 and audio.subtype == subtype and np.allclose(audio.samples, x, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]  # no temp files left


def test_written_files_get_the_mode_of_a_plain_new_file_or_keep_the_replaced_ones(tmp_path):
    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    umask = os.umask(0o022)
    try:
        write_audio(tmp_path / "take.wav", np.zeros(480), 48000)
        write_json(tmp_path / "report.json", {"a": 1})
        with atomic_dir(tmp_path / "run") as run:
            (run / "x").write_text("x")
        assert (mode(tmp_path / "take.wav"), mode(tmp_path / "report.json"), mode(tmp_path / "run")) == (0o644, 0o644, 0o755)
        os.chmod(tmp_path / "take.wav", 0o640)
        write_audio(tmp_path / "take.wav", np.ones(480) * 0.1, 48000)
        assert mode(tmp_path / "take.wav") == 0o640
    finally:
        os.umask(umask)


def test_nan_samples_are_refused_with_where_the_first_one_is(tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "BLOCK", 1000)  # the first NaN sits in read_channel's third block
    x = np.zeros(4800)
    x[2400:2410] = np.nan
    sf.write(tmp_path / "take.wav", x, 48000, subtype="FLOAT")
    for read in (read_audio, read_channel):  # read_channel: block by block, as check and align read
        with pytest.raises(CaptureError, match=r"holds 10 NaN/Inf samples \(the first at 0.050 s, sample 2400\)"):
            read(tmp_path / "take.wav")
