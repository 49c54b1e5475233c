"""WAV reading and the streaming resampler."""

import numpy as np
import pytest

from ar_perception.audio import Chunker, Resampler, read_wav, resample, write_wav
from ar_perception.errors import ArpError


@pytest.mark.parametrize("rates", [(48000, 16000), (44100, 16000), (8000, 16000), (22050, 16000)])
def test_streaming_resampler_equals_one_shot_and_scipy(rates):
    a, b = rates
    rng = np.random.default_rng(0)
    x = rng.standard_normal(12000).astype(np.float32)
    whole = resample(x, a, b)
    r, parts, i = Resampler(a, b), [], 0
    while i < len(x):
        k = int(rng.integers(1, 2500))
        parts.append(r.push(x[i : i + k]))
        i += k
    parts.append(r.flush())
    assert np.array_equal(np.concatenate(parts), whole)
    assert len(whole) == -(-len(x) * b // a)
    signal = pytest.importorskip("scipy.signal")
    from fractions import Fraction

    f = Fraction(b, a)
    ref = signal.resample_poly(x.astype(np.float64), f.numerator, f.denominator)
    assert np.abs(ref - whole).max() < 1e-5


def test_resampling_keeps_a_tone_and_removes_what_the_new_rate_cannot_hold():
    t = np.arange(48000) / 48000
    x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 12000 * t)).astype(np.float32)
    y = resample(x, 48000, 16000)
    spec = np.abs(np.fft.rfft(y[1000:-1000] * np.hanning(len(y) - 2000)))
    freqs = np.fft.rfftfreq(len(y) - 2000, 1 / 16000)
    assert abs(freqs[spec.argmax()] - 440) < 3
    assert spec.max() > 100 * spec[freqs > 7000].max()  # 12 kHz would alias to 4 kHz: it is filtered out


@pytest.mark.parametrize("fmt", ["pcm8", "pcm16", "pcm24", "pcm32", "float32"])
def test_read_wav_formats(tmp_path, fmt):
    from .test_odd_audio import wav_bytes

    x = np.array([[0.0, 0.5], [-0.5, 0.25], [0.999, -1.0]], np.float32)
    (tmp_path / "a.wav").write_bytes(wav_bytes(x, 22050, fmt))
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 22050 and y.shape == (3, 2) and y.dtype == np.float32
    assert np.abs(y - x).max() < (0.01 if fmt == "pcm8" else 1e-4)


def test_write_then_read(tmp_path):
    x = np.sin(np.arange(1000) / 10).astype(np.float32) * 0.5
    write_wav(tmp_path / "b.wav", x, 16000)
    y, rate = read_wav(tmp_path / "b.wav")
    assert rate == 16000 and np.abs(y[:, 0] - x).max() < 1e-4


def test_read_wav_errors(tmp_path):
    with pytest.raises(ArpError, match=r"x.wav: cannot read the audio file: No such file or directory"):
        read_wav(tmp_path / "x.wav")
    (tmp_path / "t.wav").write_text("hello, not audio")
    with pytest.raises(ArpError, match=r"t.wav: not a WAV file \(expected a RIFF/WAVE header, got b'hello, not a'\)"):
        read_wav(tmp_path / "t.wav")


def test_chunker():
    c = Chunker(4)
    assert c.push(np.arange(3)) == []
    got = c.push(np.arange(3, 10))
    assert [list(g) for g in got] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert list(c.flush()) == [8, 9]
