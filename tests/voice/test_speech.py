"""The speech node with the real Whisper tiny.en and silero VAD: real human speech, silence, noise."""

import threading

import numpy as np
import pytest

from ar_perception.audio import read_wav, resample
from ar_perception.errors import ModelError
from ar_perception.nodes.speech import RATE, WINDOW, Speech, resolve_whisper
from ar_perception.runtime.harness import NodeHarness
from ar_perception.voice import transcribe, word_error_rate

from .conftest import audio_msgs


def feed(speech, msgs):
    return [m for a in msgs for _, m in speech.feed("audio", a)]


@pytest.mark.parametrize(
    "clip", ["sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0930"]
)
def test_real_speech_word_for_word(speech, librivox, clip):
    path, ref = librivox[clip]
    texts = transcribe(path, speech)
    hyp = " ".join(t.meta["text"] for t in texts)
    errors, words = word_error_rate(ref, hyp)
    assert errors / words <= 0.1, (ref, hyp)
    duration = len(read_wav(path)[0]) / 16000
    for t in texts:
        assert t.kind == "Text" and 0 <= t.meta["start"] < t.meta["end"] <= duration + 0.01
        assert 0.5 < t.meta["confidence"] <= 1.0


def test_silence_and_noise_make_no_sentences(speech):
    rng = np.random.default_rng(0)
    for signal in (
        np.zeros(16000 * 4, np.float32),
        0.05 * rng.standard_normal(16000 * 4),
        np.clip(0.5 * rng.standard_normal(16000 * 4), -1, 1),
        np.cumsum(rng.standard_normal(16000 * 4)) / 400,
    ):  # brown noise: rumble
        assert feed(speech, audio_msgs(np.asarray(signal, np.float32))) == []


def test_two_utterances_and_when_each_ended(speech, speak):
    a, _ = read_wav(speak("turn left at the door"))
    b, _ = read_wav(speak("where is the red chair"))
    gap = np.zeros(16000, np.float32)
    signal = np.concatenate([gap, a[:, 0], gap, b[:, 0], gap])
    msgs = audio_msgs(signal)
    t0 = 1_000_000_000_000
    msgs = [
        m.__class__(kind=m.kind, arrays=m.arrays, meta=m.meta, capture_ns=t0 + (i + 1) * 100_000_000)
        for i, m in enumerate(msgs)
    ]  # chunk i ends (i + 1) * 100 ms into the stream
    texts = feed(speech, msgs)
    assert [
        word_error_rate(r, t.meta["text"])[0]
        for r, t in zip(["turn left at the door", "where is the red chair"], texts, strict=True)
    ] == [0, 0]
    loud = np.flatnonzero(np.abs(a[:, 0]) > 0.02)
    first = (16000 + loud[0]) / 16000, (16000 + loud[-1]) / 16000  # where the first utterance's voice is
    assert abs(texts[0].meta["start"] - first[0]) < 0.1 and abs(texts[0].meta["end"] - first[1]) < 0.1
    for t in texts:  # the capture time is when the speech ended, on the stream's clock
        assert abs((t.capture_ns - t0) / 1e9 - t.meta["end"]) < 0.01


def test_other_sample_rates_are_resampled_inside(speech, speak, monkeypatch):
    # "where is the table": tiny.en reads it right with confidence 0.84-0.86 on every CTranslate2 backend (int8 with
    # MKL, which it picks on Intel, or oneDNN, elsewhere; float32) at any gain and chunk size; "is there a table" at
    # this speed is a coin toss (right 4-8 of 12 ways, at most 0.7 when right), whatever the resampling
    x, rate = read_wav(speak("where is the table"))
    x22 = np.concatenate([resample(x[:, 0], rate, 22050), np.zeros(22050, np.float32)])
    heard = []
    real = speech.node.transcribe

    def kept(audio):
        heard.append(audio)
        return real(audio)

    monkeypatch.setattr(speech.node, "transcribe", kept)
    texts = feed(speech, audio_msgs(x22, rate=22050, chunk=2205))  # 1600 samples at 16 kHz: not whole VAD windows
    assert len(texts) == 1 and word_error_rate("where is the table", texts[0].meta["text"])[0] == 0
    # Whisper heard the one-shot 16 kHz resampling of the stream (test_audio checks it against scipy), sample for
    # sample: the utterance with its 200 ms pads, silence where the pad reaches before the stream's start
    pad = 3200
    x16 = np.concatenate([np.zeros(pad, np.float32), resample(x22, 22050, 16000)])
    start, end = round(texts[0].meta["start"] * 16000), round(texts[0].meta["end"] * 16000)
    np.testing.assert_allclose(heard[-1], x16[start : end + 2 * pad], rtol=0, atol=1e-6)
    loud = np.flatnonzero(np.abs(x22) > 0.02) / 22050  # where the voice is, in seconds of the stream
    assert abs(texts[0].meta["start"] - loud[0]) < 0.1 and abs(texts[0].meta["end"] - loud[-1]) < 0.1


def test_the_file_ends_while_the_speaker_talks(speech, speak):
    x, _ = read_wav(speak("is there a person"))
    texts = feed(speech, audio_msgs(x[:, 0]))  # no trailing silence; the last chunk closes the utterance
    assert len(texts) == 1 and word_error_rate("is there a person", texts[0].meta["text"])[0] == 0


def test_model_by_path_and_errors(tmp_path):
    packaged = resolve_whisper("tiny.en")
    assert resolve_whisper(packaged) == packaged
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"empty has no model.bin \(expected a CTranslate2 conversion"):
        resolve_whisper(str(tmp_path / "empty"))
    with pytest.raises(
        ModelError,
        match=r"whisper model 'no-such-model' is not a folder, not cached, and could not "
        r"be downloaded .*use the offline default 'tiny.en'",
    ):
        resolve_whisper("no-such-model")


def test_transcription_starts_before_the_silence_has_lasted(speech, speak, monkeypatch):
    x, _ = read_wav(speak("is there a person"))
    signal = np.concatenate([np.zeros(8000, np.float32), x[:, 0], np.zeros(16000, np.float32)])
    calls = []
    real = speech.node.transcribe

    def counted(audio):
        calls.append(threading.current_thread().name)
        return real(audio)

    monkeypatch.setattr(speech.node, "transcribe", counted)
    msgs = audio_msgs(signal)
    texts = feed(speech, msgs)
    # every transcription ran ahead on the pool (a pause between words may have started one that was dropped):
    # none was left to run when the utterance ended
    assert calls and all(c.startswith("arp-whisper") for c in calls)
    assert len(texts) == 1 and texts[0].meta["text"] == "Is there a person?"
    speech.node.params.speculate = False
    try:
        calls.clear()
        texts = feed(speech, msgs)
    finally:
        speech.node.params.speculate = True
    assert calls == [threading.current_thread().name] and texts[0].meta["text"] == "Is there a person?"


def voice(speak, text: str) -> np.ndarray:
    """What espeak-ng says, at 16 kHz, cut to where the voice is: the silence after it is the test's to add."""
    x, _ = read_wav(speak(text, rate=RATE))
    loud = np.flatnonzero(np.abs(x[:, 0]) > 0.02)
    return x[loud[0] : loud[-1] + 1, 0]


def feed_until(h, signal, done) -> bool:
    """Feed `signal` one VAD window at a time, no utterance ending, until done(); whether it came."""
    for m in audio_msgs(signal, chunk=WINDOW, last=False):
        assert h.feed("audio", m) == []
        if done():
            return True
    return False


def held(h) -> threading.Event:
    """Keep the node's transcription pool busy until the returned event is set (or a minute, should a test
    fail): every speculative transcription then waits in the queue, whatever the machine's speed."""
    release = threading.Event()
    h.node._pool.submit(release.wait, 60)
    return release


def test_a_stale_guess_never_runs(speech, speak):
    silence = np.zeros(2 * RATE, np.float32)  # longer than needed: each wait below ends at its event
    release = held(speech)
    try:
        assert feed_until(speech, np.concatenate([voice(speak, "turn left"), silence]), lambda: speech.node._guess)
        key, first = speech.node._guess
        # the speaker goes on before the silence lasted: that guess is stale, and waits in the queue no more
        b = voice(speak, "at the door")
        assert feed_until(
            speech,
            np.concatenate([b, silence]),
            lambda: speech.node._guess is not None and speech.node._guess[0] != key,
        )
        second = speech.node._guess[1]
        assert first.cancelled() and not second.cancelled()
    finally:
        release.set()
    texts = feed(speech, audio_msgs(silence))  # the utterance ends with the stream, from the second guess
    assert len(texts) == 1 and texts[0].meta["text"] == second.result()[0]


def test_a_stop_mid_utterance_drops_its_guess_without_waiting(speak, caplog):
    h = NodeHarness(Speech, {"warmup": False}, node_id="stt")
    release = held(h)
    try:
        silence = np.zeros(2 * RATE, np.float32)
        assert feed_until(h, np.concatenate([voice(speak, "turn left"), silence]), lambda: h.node._guess)
        assert h.node._guess is not None
        key, guess = h.node._guess
        h.node.stopping = True  # the graph stops: nothing starts a transcription whose text would be thrown away
        pad = round(h.node.params.speech_pad_ms * RATE / 1000)
        b = voice(speak, "at the door")
        assert feed_until(
            h,
            np.concatenate([b, silence]),
            lambda: h.node._silence_from not in (None, key[1]) and h.node._n - h.node._silence_from >= pad,
        )
        # a new guess would have started by now (the old one is dropped: the speech went on in its pad)
        assert h.node._guess in (None, (key, guess))
        # the teardown does not wait for what the pool is busy with: it returns while the pool is still held
        t = threading.Thread(target=h.close)
        t.start()
        t.join(30)  # only a guard against a hang: the teardown waits for nothing
        assert not t.is_alive() and guess.cancelled()
    finally:
        release.set()
    start = h.node._start
    assert start is not None
    assert f"node 'stt': stopped before the utterance from {start / RATE:.2f} s to " in caplog.text


@pytest.mark.parametrize("after_ms", [64, 288])
def test_a_guess_starts_once_the_silence_has_lasted_speculate_after_ms(speak, after_ms):
    h = NodeHarness(Speech, {"warmup": False, "speculate_after_ms": after_ms}, node_id="stt")
    release = held(h)  # no transcription finishes: the test looks only at when the guess starts
    try:
        silence = np.zeros(2 * RATE, np.float32)
        assert feed_until(h, np.concatenate([voice(speak, "turn left"), silence]), lambda: h.node._guess)
        guess = h.node._guess
        assert guess is not None
        (start, end), _ = guess
        waited = h.node._n - end  # silence heard when the guess started, in samples
        assert after_ms * RATE / 1000 <= waited < after_ms * RATE / 1000 + WINDOW
        assert end == h.node._silence_from and h.node._start == start  # the utterance has not ended yet
    finally:
        release.set()
        h.close()


class ScriptedVad:
    """A VAD that says what the test tells it, one probability per window in order (then silence)."""

    def __init__(self, probs: list[float]) -> None:
        self.probs = list(probs)

    def reset(self) -> None:
        pass

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        out = [self.probs.pop(0) if self.probs else 0.0 for _ in range(len(windows))]
        return np.array(out, np.float32)


def test_a_sound_in_the_pad_a_guess_took_as_silence_throws_the_guess_away(speak):
    """The guess starts after 64 ms of silence and fills the rest of the 200 ms pad with digital silence; a
    window in that pad that is not quite silence (probability between the silence and speech levels) means the
    guess did not hear what the utterance holds: it is dropped and guessed again with that window in."""
    h = NodeHarness(Speech, {"warmup": False, "speculate_after_ms": 64}, node_id="stt")
    x = voice(speak, "turn left")
    talk = len(x) // WINDOW
    h.node.vad = ScriptedVad([0.9] * talk + [0.1, 0.1, 0.4] + [0.1] * 40)  # type: ignore[assignment]  # speech, 2 quiet, 1 soft, quiet
    release = held(h)
    try:
        signal = np.concatenate([x[: talk * WINDOW], np.zeros(2 * RATE, np.float32)])
        assert feed_until(h, signal[: (talk + 2) * WINDOW], lambda: h.node._guess)
        first = h.node._guess
        assert first is not None
        h.feed("audio", audio_msgs(signal[(talk + 2) * WINDOW : (talk + 3) * WINDOW], chunk=WINDOW, last=False)[0])
        assert h.node._guess is None or h.node._guess[1] is not first[1]  # the soft window threw it away
        assert first[1].cancelled()
        h.feed("audio", audio_msgs(signal[(talk + 3) * WINDOW : (talk + 4) * WINDOW], chunk=WINDOW, last=False)[0])
        second = h.node._guess
        assert second is not None and second[0] == first[0] and second[1] is not first[1]  # guessed again
    finally:
        release.set()
        h.close()


def test_speculation_must_start_before_the_utterance_can_end():
    with pytest.raises(ValueError, match=r"speculate_after_ms \(390\) must be at most min_silence_ms less two"):
        Speech.Params(speculate_after_ms=390)  # with min_silence_ms 400: the utterance ends at the same window
    assert Speech.Params(speculate_after_ms=390, speculate=False).speculate_after_ms == 390
    assert Speech.Params(min_silence_ms=100).speculate_after_ms == 36  # the default, as early as a short pause allows
    assert Speech.Params(min_silence_ms=32).speculate_after_ms == 0
