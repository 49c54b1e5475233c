"""Audio at other rates, channel counts and sample types, empty and very short audio, NaN/inf and clipping: what the
kind check refuses (with its exact message), what the WAV reader, the wav and microphone sources and the speech
node make of the rest."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from ar_perception import kinds
from ar_perception.audio import Resampler, read_wav, resample, to_float, to_mono
from ar_perception.errors import ArpError, NodeError
from ar_perception.nodes.microphone import AudioAssembler
from ar_perception.nodes.wav import Wav
from ar_perception.runtime.harness import run_source
from ar_perception.runtime.msg import Msg
from ar_perception.voice import word_error_rate

from .conftest import audio_msgs


def exactly(text: str) -> str:
    return f"^{re.escape(text)}$"


def tone(n: int, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spec.argmax()])


def wav_bytes(
    frames: np.ndarray,
    rate: int,
    fmt: str = "pcm16",
    *,
    tag: int | None = None,
    bits: int | None = None,
    channels: int | None = None,
    data_size: int | None = None,
) -> bytes:
    """A WAV file of float frames (N, channels), or with any header field overridden (broken files)."""
    x = np.asarray(frames, np.float64)
    x = x if x.ndim == 2 else x[:, None]
    if fmt == "pcm8":
        data = (np.round(x * 127) + 128).astype(np.uint8).tobytes()
    elif fmt == "pcm16":
        data = np.round(x * 32767).astype("<i2").tobytes()
    elif fmt == "pcm24":
        v = np.round(x * (2**23 - 1)).astype("<i4").reshape(-1)
        data = b"".join(int(s).to_bytes(3, "little", signed=True) for s in v)
    elif fmt == "pcm32":
        data = np.round(x * (2**31 - 1)).astype("<i4").tobytes()
    else:
        data = x.astype("<f4" if fmt == "float32" else "<f8").tobytes()
    bits = (
        bits
        if bits is not None
        else {"pcm8": 8, "pcm16": 16, "pcm24": 24, "pcm32": 32, "float32": 32, "float64": 64}[fmt]
    )
    tag = tag if tag is not None else (3 if fmt.startswith("float") else 1)
    ch = channels if channels is not None else x.shape[1]
    align = ch * bits // 8
    size = len(data) if data_size is None else data_size
    return (
        struct.pack(
            "<4sI4s4sIHHIIHH4sI",
            b"RIFF",
            36 + size,
            b"WAVE",
            b"fmt ",
            16,
            tag,
            ch,
            rate,
            rate * align,
            align,
            bits,
            b"data",
            size,
        )
        + data
    )


def wav_chunks(path: Path, **params) -> list[Msg]:
    return [m for _, m in run_source(Wav, {"path": str(path), "realtime": False, **params}, limit=100_000)]


# -- the kind check ------------------------------------------------------------------------------------------

SECOND = tone(1600, 16000)


def with_bad(values: list[float]) -> np.ndarray:
    x = SECOND.copy()
    x[: len(values)] = values
    return x


@pytest.mark.parametrize(
    "data, meta, problem",
    [
        (np.round(SECOND * 32767).astype(np.int16), {"sample_rate": 16000}, "Audio.data must be float32 (got int16)"),
        (SECOND.astype(np.float64), {"sample_rate": 16000}, "Audio.data must be float32 (got float64)"),
        (np.stack([SECOND, SECOND], axis=1), {"sample_rate": 16000}, "Audio.data must be 1-D (got shape (1600, 2))"),
        (SECOND[None], {"sample_rate": 16000}, "Audio.data must be 1-D (got shape (1, 1600))"),
        (
            with_bad([np.nan, np.nan, np.nan]),
            {"sample_rate": 16000},
            "Audio.data must be finite (got 3 NaN/inf samples of 1600)",
        ),
        (
            with_bad([np.inf, -np.inf]),
            {"sample_rate": 16000},
            "Audio.data must be finite (got 2 NaN/inf samples of 1600)",
        ),
        (
            with_bad([32767.0, -32768.0]),
            {"sample_rate": 16000},
            "Audio.data must be in [-1, 1] (got a peak of 32768; integer PCM must be scaled, e.g. int16 / 32768)",
        ),
        (
            with_bad([2.5]),
            {"sample_rate": 16000},
            "Audio.data must be in [-1, 1] (got a peak of 2.5; integer PCM must be scaled, e.g. int16 / 32768)",
        ),
        (SECOND, {}, "Audio needs metadata sample_rate (got: none)"),
        (SECOND, {"sample_rate": 0}, "Audio meta.sample_rate must be a positive whole number of Hz (got 0)"),
        (SECOND, {"sample_rate": -16000}, "Audio meta.sample_rate must be a positive whole number of Hz (got -16000)"),
        (
            SECOND,
            {"sample_rate": 44100.5},
            "Audio meta.sample_rate must be a positive whole number of Hz (got 44100.5)",
        ),
        (SECOND, {"sample_rate": "16k"}, "Audio meta.sample_rate must be a positive whole number of Hz (got '16k')"),
        (SECOND, {"sample_rate": True}, "Audio meta.sample_rate must be a positive whole number of Hz (got True)"),
        (SECOND, {"sample_rate": None}, "Audio meta.sample_rate must be a positive whole number of Hz (got None)"),
        (
            SECOND,
            {"sample_rate": float("nan")},
            "Audio meta.sample_rate must be a positive whole number of Hz (got nan)",
        ),
    ],
)
def test_audio_the_kind_refuses(data, meta, problem):
    assert kinds.check("Audio", {"data": data}, meta) == problem


@pytest.mark.parametrize(
    "data, rate",
    [
        (np.zeros(0, np.float32), 16000),  # empty: nothing to say, but a `last` to carry
        (np.zeros(1, np.float32), 16000),
        (with_bad([1.9, -1.9]), 16000),  # resampling overshoot
        (np.sign(SECOND), 44100),  # clipped: at the rails
        (SECOND, 44100.0),
        (SECOND, np.int64(8000)),
        (SECOND[::2], 8000),  # strided
    ],
)
def test_audio_the_kind_takes(data, rate):
    assert kinds.check("Audio", {"data": data}, {"sample_rate": rate}) is None


# -- sample types, channels and rates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, want",
    [
        (np.array([-32768, 0, 16384, 32767], np.int16), [-1.0, 0.0, 0.5, 32767 / 32768]),
        (np.array([-(2**31), 2**30], np.int32), [-1.0, 0.5]),
        (np.array([0, 128, 192], np.uint8), [-1.0, 0.0, 0.5]),
        (np.array([0.25, -1.5]), [0.25, -1.5]),  # floats are left as they are
    ],
)
def test_integer_pcm_is_scaled_to_floats(x, want):
    y = to_float(x)
    assert y.dtype == np.float32 and y.tolist() == pytest.approx(want)


def test_channels_are_averaged_whatever_the_sample_type():
    block = np.array([[32767, -32768, 0], [16384, 16384, 16384]], np.int16)
    assert to_mono(block).tolist() == pytest.approx([(32767 - 32768) / 3 / 32768, 0.5])
    assert to_mono(np.zeros((0, 2), np.float32)).shape == (0,)
    with pytest.raises(ArpError, match=exactly("audio samples must be (N,) or (N, channels), got shape (2, 2, 2)")):
        to_mono(np.zeros((2, 2, 2), np.float32))


@pytest.mark.parametrize("n, rate", [(0, 48000), (1, 48000), (2, 44100), (1, 8000), (7, 16000)])
def test_empty_and_tiny_signals_resample(n, rate):
    x = np.full(n, 0.5, np.float32)
    assert len(resample(x, rate, 16000)) == -(-n * 16000 // rate)
    r = Resampler(rate, 16000)
    assert r.push(np.zeros(0, np.float32)).shape == (0,)
    parts = [r.push(x[i : i + 1]) for i in range(n)] + [r.flush()]
    assert np.array_equal(np.concatenate(parts), resample(x, rate, 16000))


@pytest.mark.parametrize(
    "rate, problem",
    [
        (
            999983,
            "cannot resample 999983 Hz to 16000 Hz: the ratio 16000/999983 needs a filter of 19999661 taps "
            "(at most 2000001); use a common rate such as 16000, 44100 or 48000 Hz",
        ),
        (0, "sample rates must be positive (got 0 -> 16000)"),
    ],
)
def test_rates_it_cannot_resample(rate, problem):
    with pytest.raises(ArpError, match=exactly(problem)):
        Resampler(rate, 16000)


def test_an_odd_but_usable_rate_resamples():
    x = tone(44101, 44101)  # a device clock slightly off 44.1 kHz
    y = resample(x, 44101, 16000)
    assert len(y) == 16000 and abs(peak_hz(y, 16000) - 440) < 2


# -- the wav source ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_wav_files_at_any_rate_and_channel_count_become_16k_mono(tmp_path, rate, channels):
    amps = np.linspace(0.2, 0.6, channels)
    frames = np.stack([tone(rate, rate, amp=a) for a in amps], axis=1)  # 1 s
    (tmp_path / "a.wav").write_bytes(wav_bytes(frames, rate))
    msgs = wav_chunks(tmp_path / "a.wav")
    assert [len(m.data) for m in msgs] == [1600] * 10 and [m.meta["last"] for m in msgs] == [False] * 9 + [True]
    for m in msgs:
        assert m.meta["sample_rate"] == 16000 and kinds.check("Audio", dict(m.arrays), dict(m.meta)) is None
    y = np.concatenate([m.data for m in msgs])
    assert abs(peak_hz(y, 16000) - 440) < 2
    assert np.abs(y[1600:-1600]).max() == pytest.approx(amps.mean(), abs=0.01)  # channels averaged


@pytest.mark.parametrize("fmt", ["pcm8", "pcm24", "pcm32", "float32", "float64"])
def test_wav_files_of_any_bit_depth(tmp_path, fmt):
    frames = np.stack([tone(4410, 44100, amp=0.5), tone(4410, 44100, amp=0.3)], axis=1)
    (tmp_path / "a.wav").write_bytes(wav_bytes(frames, 44100, fmt))
    (m,) = wav_chunks(tmp_path / "a.wav", chunk_ms=1000)
    assert len(m.data) == 1600 and m.data.dtype == np.float32
    want = resample(frames.mean(axis=1).astype(np.float32), 44100, 16000)
    assert np.abs(m.data - want).max() < (0.02 if fmt == "pcm8" else 1e-3)


@pytest.mark.parametrize(
    "fmt, signal",
    [
        ("float32", 1.5 * tone(4410, 44100, amp=1.0)),  # a float file past 0 dBFS
        ("pcm16", np.sign(tone(4410, 44100, 1000, 1.0))),
    ],
)  # a clipped square wave
def test_what_goes_past_full_scale_is_clipped(tmp_path, fmt, signal):
    (tmp_path / "a.wav").write_bytes(wav_bytes(signal[:, None], 44100, fmt))
    y = np.concatenate([m.data for m in wav_chunks(tmp_path / "a.wav")])
    assert np.abs(y).max() == 1.0 and (np.abs(y) == 1.0).sum() > 100


def test_a_wav_file_of_one_frame_gives_one_short_last_chunk(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes(np.array([[0.5, 0.5]]), 44100))
    (m,) = wav_chunks(tmp_path / "a.wav")
    assert len(m.data) == 1 and m.meta["last"] is True


@pytest.mark.parametrize(
    "make, problem",
    [
        (
            lambda: wav_bytes(np.zeros((0, 2)), 44100),
            "the WAV file holds no audio (0 frames of 2 channel(s) at 44100 Hz)",
        ),
        (
            lambda: wav_bytes(np.zeros((4410, 1)), 44100)[:1044],
            "truncated WAV file (its data chunk declares 8820 bytes, the file holds 1000 of them)",
        ),
        (lambda: wav_bytes(np.zeros((10, 1)), 0), "WAV header gives a sample rate of 0 Hz"),
        (
            lambda: wav_bytes(np.zeros((10, 1)), 16000, bits=0),
            "unsupported WAV encoding (format tag 1, 0 bits; expected 8/16/24/32-bit PCM or 32/64-bit float)",
        ),
        (
            lambda: wav_bytes(np.zeros((10, 1)), 8000, "pcm8", tag=7),  # mu-law
            "unsupported WAV encoding (format tag 7, 8 bits; expected 8/16/24/32-bit PCM or 32/64-bit float)",
        ),
        (
            lambda: wav_bytes(np.zeros((10, 1)), 16000, channels=0),
            "inconsistent WAV format (0 channels, 16 bits, block 0)",
        ),
        (
            lambda: wav_bytes(np.array([[np.nan], [0.1], [np.inf]] + [[0.0]] * 97), 16000, "float32"),
            "corrupt float WAV file (2 of its 100 samples are NaN or infinite)",
        ),
        (lambda: wav_bytes(np.zeros((10, 1)), 16000)[:36], "WAV file without a complete 'fmt ' and 'data' chunk"),
        (lambda: b"RIFF\x00\x00", "not a WAV file (expected a RIFF/WAVE header, got b'RIFF\\x00\\x00')"),
        (
            lambda: wav_bytes(np.zeros((10, 1)), 999983),
            "cannot resample 999983 Hz to 16000 Hz: the ratio 16000/999983 needs a filter of 19999661 taps (at most "
            "2000001); use a common rate such as 16000, 44100 or 48000 Hz",
        ),
    ],
    ids=["empty", "truncated", "rate-0", "bits-0", "mu-law", "channels-0", "nan", "no-data", "garbage", "odd-rate"],
)
def test_broken_wav_files_fail_the_source_naming_the_file(tmp_path, make, problem):
    path = tmp_path / "broken.wav"
    path.write_bytes(make())
    with pytest.raises(NodeError, match=exactly(f"node 'source': {path}: {problem}")):
        run_source(Wav, {"path": str(path)})


def test_read_wav_names_the_file_in_its_errors(tmp_path):
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_bytes(np.zeros((100, 2)), 48000)[:100])
    with pytest.raises(
        ArpError,
        match=exactly(f"{path}: truncated WAV file (its data chunk declares 400 bytes, the file holds 56 of them)"),
    ):
        read_wav(path)


# -- the microphone's block assembler -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate, channels, block, dtype",
    [
        (44100, 2, 441, "float32"),
        (48000, 2, 960, "float32"),
        (48000, 4, 1000, "float32"),
        (44100, 2, 512, "int16"),
        (8000, 1, 80, "float32"),
        (16000, 1, 1, "float32"),
        (22050, 1, 333, "int32"),
    ],
)
def test_device_blocks_at_any_rate_channel_count_and_type_become_16k_mono_chunks(rate, channels, block, dtype):
    x = np.stack([tone(rate // 2, rate, amp=0.2 + 0.1 * c) for c in range(channels)], axis=1)  # 0.5 s
    dev = x if dtype == "float32" else np.round(x * np.iinfo(dtype).max).astype(dtype)
    asm = AudioAssembler(rate, 16000, 1600)
    got: list[np.ndarray] = []
    for i in range(0, len(dev), block):
        got += [c for c, _ in asm.push(dev[i : i + block], 0)]
        got += [c for c, _ in asm.push(dev[:0], 0)]  # an empty block now and then
    assert [len(c) for c in got] == [1600] * (len(got)) and len(got) >= 4
    y = np.concatenate(got)
    want = resample(to_mono(dev), rate, 16000)[: len(y)]
    assert y.dtype == np.float32 and np.abs(y - want).max() < 1e-6
    assert np.abs(y).max() == pytest.approx(0.2 + 0.05 * (channels - 1), abs=0.01)


def test_a_device_driven_past_full_scale_is_clipped():
    x = np.sign(tone(48000, 48000, 1000, 1.0))[:, None] * np.ones((1, 2), np.float32)  # clipped, both channels
    asm = AudioAssembler(48000, 16000, 1600)
    y = np.concatenate([c for i in range(0, len(x), 960) for c, _ in asm.push(x[i : i + 960], 0)])
    assert np.abs(y).max() == 1.0 and kinds.check("Audio", {"data": y}, {"sample_rate": 16000}) is None


# -- the speech node ------------------------------------------------------------------------------------------------


def feed(speech, msgs):
    return [m for a in msgs for _, m in speech.feed("audio", a)]


def chunk(data: np.ndarray, rate: int = 16000, last: bool = False) -> Msg:
    return Msg("Audio", {"data": np.asarray(data, np.float32)}, {"sample_rate": rate, "last": last})


@pytest.mark.parametrize(
    "rate, size", [(8000, 100), (11025, 1000), (44100, 441), (48000, 4800), (96000, 9600), (16000, 37)]
)
def test_speech_at_other_rates_and_in_chunks_shorter_than_a_vad_window(speech, speak, rate, size):
    x, r = read_wav(speak("how far is the wall"))
    signal = np.concatenate([resample(x[:, 0], r, rate), np.zeros(rate, np.float32)])
    texts = feed(speech, audio_msgs(signal, rate=rate, chunk=size))
    assert len(texts) == 1 and word_error_rate("how far is the wall", texts[0].meta["text"])[0] == 0


def test_whisper_always_gets_16k_mono_float32_within_full_scale(speech, speak, monkeypatch):
    x, r = read_wav(speak("where is the red chair"))
    y = resample(x[:, 0], r, 44100)
    loud = 1.9 * y / np.abs(y).max()  # overshoots 1; below the kind's limit of 2
    calls = []
    real = speech.node.transcribe

    def counted(audio):
        calls.append(audio)
        return real(audio)

    monkeypatch.setattr(speech.node, "transcribe", counted)
    texts = feed(speech, audio_msgs(np.concatenate([loud, np.zeros(44100, np.float32)]), rate=44100, chunk=4410))
    assert len(texts) == 1 and word_error_rate("where is the red chair", texts[0].meta["text"])[0] <= 1
    for audio in calls:
        assert audio.dtype == np.float32 and audio.ndim == 1 and np.abs(audio).max() <= 1.0
    # the utterance and its 200 ms pads, counted in 16 kHz samples
    assert abs(len(calls[-1]) / 16000 - (texts[0].meta["end"] - texts[0].meta["start"] + 0.4)) < 0.01


def test_empty_and_very_short_audio(speech, speak):
    assert feed(speech, [chunk(np.zeros(0)), chunk(np.zeros(0), 44100), chunk(np.zeros(0), last=True)]) == []
    assert feed(speech, [chunk(np.full(100, 0.3), 48000, last=True)]) == []  # less than one VAD window, alone
    x, _ = read_wav(speak("is there a person"))
    talk = audio_msgs(x[:, 0], last=False)  # the speaker is still talking ...
    texts = feed(speech, [*talk, chunk(np.zeros(0), last=True)])  # ... when an empty last chunk ends the stream
    assert len(texts) == 1 and word_error_rate("is there a person", texts[0].meta["text"])[0] == 0


@pytest.mark.parametrize(
    "msg, problem",
    [
        (chunk(np.stack([SECOND, SECOND], axis=1)), "Audio.data must be 1-D (got shape (1600, 2))"),
        (
            Msg("Audio", {"data": np.zeros(1600, np.int16)}, {"sample_rate": 16000}),
            "Audio.data must be float32 (got int16)",
        ),
        (chunk(with_bad([np.nan])), "Audio.data must be finite (got 1 NaN/inf samples of 1600)"),
        (chunk(SECOND, 0), "Audio meta.sample_rate must be a positive whole number of Hz (got 0)"),
    ],
)
def test_bad_audio_is_dropped_and_counted_before_the_speech_node(speech, monkeypatch, msg, problem):
    with pytest.raises(NodeError, match=exactly(f"strict mode: node 'speech' input 'audio': {problem}")):
        speech.feed("audio", msg)
    monkeypatch.setattr(speech, "strict", False)
    monkeypatch.setattr(speech, "dropped", {})
    assert speech.feed("audio", msg) == [] and speech.feed("audio", msg) == []
    assert speech.dropped == {"audio": 2}
    assert speech.feed("audio", chunk(np.zeros(1600), last=True)) == []  # and it goes on


def test_a_rate_the_speech_node_cannot_resample_fails_once_then_is_dropped(speech, monkeypatch):
    monkeypatch.setattr(speech.node, "unusable_rates", {})
    with pytest.raises(
        NodeError,
        match=exactly(
            "node 'speech': input 'audio': cannot resample 999983 Hz to 16000 Hz: the ratio 16000/999983 needs a "
            "filter of 19999661 taps (at most 2000001); use a common rate such as 16000, 44100 or 48000 Hz; audio "
            "at 999983 Hz is dropped"
        ),
    ):
        speech.feed("audio", chunk(np.zeros(1000), 999983))
    assert feed(speech, [chunk(np.zeros(1000), 999983)] * 3) == []
    assert speech.node.unusable_rates == {999983: 4}
    assert feed(speech, [chunk(np.zeros(1600)), chunk(np.zeros(1600), last=True)]) == []  # other audio goes on


def test_the_last_chunk_flushes_the_resampler_and_the_next_stream_starts_clean(speech):
    n = 44100 // 2
    feed(speech, [chunk(np.zeros(n), 44100), chunk(np.zeros(0), 44100, last=True)])
    assert speech.node._resampler is None and speech.node._in_rate == 16000
    total = []
    real = speech.node._to_16k

    def counted(m):
        y = real(m)
        total.append(len(y))
        return y

    speech.node._to_16k = counted
    try:
        feed(speech, [chunk(np.zeros(n), 44100), chunk(np.zeros(0), 44100, last=True)])
    finally:
        del speech.node._to_16k
    assert sum(total) == math.ceil(n * 16000 / 44100)  # every sample, the filter's look-ahead included
