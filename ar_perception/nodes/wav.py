"""A WAV file as an audio source: mono float32 chunks at 16 kHz (resampled when the file is not, channels
averaged, integer PCM scaled and the result clipped to [-1, 1])."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception.audio import Chunker, Resampler, read_wav, to_mono
from ar_perception.errors import ArpError, NodeError
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["Wav", "audio_chunks"]


def _chunks(samples: np.ndarray, rate: int, out_rate: int, chunk: int) -> Iterator[np.ndarray]:
    res, chunker = Resampler(rate, out_rate), Chunker(chunk)
    mono = to_mono(samples)
    step = max(rate // 10, 1)  # resample in 100 ms pieces: bounded memory for long files
    for i in range(0, len(mono), step):
        yield from chunker.push(_clip(res.push(mono[i : i + step])))
    yield from chunker.push(_clip(res.flush()))
    rest = chunker.flush()
    if len(rest):
        yield rest


def _clip(x: np.ndarray) -> np.ndarray:
    # a full-scale file overshoots [-1, 1] a little once resampled, and float files may hold louder peaks
    return np.clip(x, -1.0, 1.0, out=x)


def audio_chunks(samples: np.ndarray, rate: int, out_rate: int, chunk: int) -> Iterator[tuple[np.ndarray, bool]]:
    """(chunk, is_last) pairs of a whole signal, resampled to `out_rate`; the last chunk may be shorter."""
    prev = None
    for c in _chunks(samples, rate, out_rate, chunk):
        if prev is not None:
            yield prev, False
        prev = c
    if prev is not None:
        yield prev, True


class Wav(Node):
    """Plays a WAV file as Audio chunks, at its own pace (`realtime`) or as fast as the graph takes them.

    Each chunk's capture time is when its last sample was (or would have been) captured; the last chunk
    carries `meta.last = true`, so a listener can close an utterance the file ends in.
    """

    outputs = {"audio": "Audio"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        path: str = Field(..., description="WAV file (PCM 8/16/24/32-bit or float)")
        sample_rate: int = Field(16000, gt=0, description="output rate in Hz")
        chunk_ms: float = Field(100.0, gt=0, le=10_000, description="chunk length")
        realtime: bool = Field(True, description="pace chunks at the file's own rate; false = as fast as taken")
        start_delay_s: float = Field(0.0, ge=0, description="wait this long before the first chunk")
        silence_s: float = Field(0.0, ge=0, description="append this much silence after the file")

    params: Params

    def setup(self) -> None:
        try:
            self._samples, self._rate = read_wav(self.params.path)
        except Exception as e:
            raise NodeError(f"node '{self.id}': {e}") from None
        try:
            Resampler(self._rate, self.params.sample_rate)  # a rate it cannot resample fails here, not mid-run
        except ArpError as e:
            raise NodeError(f"node '{self.id}': {self.params.path}: {e}") from None
        if len(self._samples) == 0:
            raise NodeError(
                f"node '{self.id}': {self.params.path}: the WAV file holds no audio (0 frames of "
                f"{self._samples.shape[1]} channel(s) at {self._rate} Hz)"
            )
        if self.params.silence_s:
            pad = np.zeros((int(self.params.silence_s * self._rate), self._samples.shape[1]), np.float32)
            self._samples = np.concatenate([self._samples, pad])

    def produce(self) -> Iterator[Outputs]:
        p = self.params
        chunk = max(1, round(p.sample_rate * p.chunk_ms / 1000))
        if p.start_delay_s:
            yield from self.wait_until(time.monotonic() + p.start_delay_s)
        start_ns = time.time_ns()
        offset = 0  # output samples sent so far
        for data, last in audio_chunks(self._samples, self._rate, p.sample_rate, chunk):
            if self.stopping:
                return
            end_ns = start_ns + round((offset + len(data)) * 1e9 / p.sample_rate)
            if p.realtime:
                delay = (end_ns - time.time_ns()) / 1e9
                if delay > 0:
                    time.sleep(delay)
            capture = end_ns if p.realtime else time.time_ns()
            yield {
                "audio": Msg(
                    kind="Audio",
                    arrays={"data": np.ascontiguousarray(data, np.float32)},
                    meta={"sample_rate": p.sample_rate, "offset_s": offset / p.sample_rate, "last": last},
                    capture_ns=capture,
                )
            }
            offset += len(data)
