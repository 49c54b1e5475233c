"""The wav source node: chunking, resampling to 16 kHz mono, pacing."""

import time
from itertools import pairwise

import numpy as np
import pytest

from ar_perception.audio import write_wav
from ar_perception.errors import NodeError
from ar_perception.nodes.wav import Wav
from ar_perception.runtime.harness import run_source


def test_stereo_44k_file_becomes_16k_mono_chunks(tmp_path):
    rate = 44100
    t = np.arange(rate * 2) / rate  # 2 s
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)
    write_wav(tmp_path / "s.wav", np.stack([tone, tone], axis=1), rate)
    out = run_source(Wav, {"path": str(tmp_path / "s.wav"), "realtime": False, "chunk_ms": 100}, limit=1000)
    msgs = [m for _, m in out]
    assert len(msgs) == 20 and all(m.kind == "Audio" and m.meta["sample_rate"] == 16000 for m in msgs)
    assert [len(m.data) for m in msgs] == [1600] * 20
    assert [m.meta["last"] for m in msgs] == [False] * 19 + [True]
    assert [m.meta["offset_s"] for m in msgs][:3] == [0.0, 0.1, 0.2]
    y = np.concatenate([m.data for m in msgs])
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert abs(np.fft.rfftfreq(len(y), 1 / 16000)[spec.argmax()] - 1000) < 2
    assert 0.45 < np.abs(y[2000:-2000]).max() < 0.55


def test_realtime_paces_chunks_and_stamps_their_end(tmp_path):
    write_wav(tmp_path / "q.wav", np.zeros(8000, np.float32), 16000)  # 0.5 s
    t0 = time.time_ns()
    out = run_source(Wav, {"path": str(tmp_path / "q.wav"), "realtime": True, "chunk_ms": 100})
    took = (time.time_ns() - t0) / 1e9
    assert len(out) == 5 and 0.45 < took < 1.5
    ends = [(m.capture_ns - t0) / 1e9 for _, m in out]
    assert all(0.08 < b - a < 0.12 for a, b in pairwise(ends))


def test_missing_file_is_a_node_error(tmp_path):
    with pytest.raises(NodeError, match=r"node 'source': .*nope.wav: cannot read the audio file"):
        run_source(Wav, {"path": str(tmp_path / "nope.wav")})
