"""Audio plumbing shared by the audio nodes and the voice commands: WAV reading, a streaming polyphase
resampler (the Kaiser-windowed FIR of scipy's `resample_poly`, in numpy) and fixed-size chunking."""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from ar_perception.errors import ArpError

__all__ = ["read_wav", "write_wav", "to_float", "to_mono", "Resampler", "resample", "Chunker"]

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_MAX_RATIO_TERM = 100_000  # the filter has 20 * max(up, down) taps: 44101 -> 16000 Hz (16000/44101) is fine


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples as float32 (N, channels) in [-1, 1] and the sample rate, from a PCM or float WAV file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ArpError(f"{path}: cannot read the audio file: {e.strerror or e}") from None
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ArpError(f"{path}: not a WAV file (expected a RIFF/WAVE header, got {raw[:12]!r})")
    fmt, data, pos = None, None, 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            if len(body) < size:
                raise ArpError(
                    f"{path}: truncated WAV file (its data chunk declares {size} bytes, the file holds "
                    f"{len(body)} of them)"
                )
            data = body
        pos += 8 + size + (size & 1)
    if fmt is None or data is None or len(fmt) < 16:
        raise ArpError(f"{path}: WAV file without a complete 'fmt ' and 'data' chunk")
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]
    width = bits // 8
    if not ((tag == _FLOAT and bits in (32, 64)) or (tag == _PCM and bits in (8, 16, 24, 32))):
        raise ArpError(
            f"{path}: unsupported WAV encoding (format tag {tag}, {bits} bits; "
            "expected 8/16/24/32-bit PCM or 32/64-bit float)"
        )
    if channels < 1 or align != channels * width:
        raise ArpError(f"{path}: inconsistent WAV format ({channels} channels, {bits} bits, block {align})")
    if rate < 1:
        raise ArpError(f"{path}: WAV header gives a sample rate of {rate} Hz")
    frames = len(data) // align
    buf = np.frombuffer(data[: frames * align], np.uint8)
    if tag == _FLOAT:
        x = buf.view("<f4" if bits == 32 else "<f8").astype(np.float32)
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise ArpError(f"{path}: corrupt float WAV file ({bad} of its {x.size} samples are NaN or infinite)")
    elif tag == _PCM and bits == 8:
        x = (buf.astype(np.float32) - 128.0) / 128.0
    elif tag == _PCM and bits in (16, 32):
        x = buf.view("<i2" if bits == 16 else "<i4").astype(np.float32) / float(2 ** (bits - 1))
    else:  # 24-bit PCM
        b = buf.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    return x.reshape(frames, channels), int(rate)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono or (N, channels) float samples as 16-bit PCM."""
    x = np.asarray(samples, np.float32)
    x = x[:, None] if x.ndim == 1 else x
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2")
    ch = x.shape[1]
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + pcm.nbytes,
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        ch,
        rate,
        rate * ch * 2,
        ch * 2,
        16,
        b"data",
        pcm.nbytes,
    )
    Path(path).write_bytes(header + pcm.tobytes())


def to_float(x: np.ndarray) -> np.ndarray:
    """Samples as float32 in [-1, 1]: integer PCM scaled (int16 / 32768, uint8 centred on 128), floats as they are."""
    x = np.asarray(x)
    if x.dtype.kind == "u":
        half = float(1 << (8 * x.dtype.itemsize - 1))
        return ((x.astype(np.float64) - half) / half).astype(np.float32)
    if x.dtype.kind == "i":
        return (x.astype(np.float64) / float(1 << (8 * x.dtype.itemsize - 1))).astype(np.float32)
    return x.astype(np.float32, copy=False)


def to_mono(x: np.ndarray) -> np.ndarray:
    """(N,) or (N, channels) -> (N,) float32 in [-1, 1] for integer PCM (see `to_float`), channels averaged."""
    x = to_float(x)
    if x.ndim not in (1, 2):
        raise ArpError(f"audio samples must be (N,) or (N, channels), got shape {x.shape}")
    return x if x.ndim == 1 else x.mean(axis=1, dtype=np.float32)


def _kaiser_lowpass(up: int, down: int) -> np.ndarray:
    # Same design as scipy.signal.resample_poly: firwin(2 * 10 * max + 1, 1 / max, window=("kaiser", 5.0)) * up.
    m = max(up, down)
    half = 10 * m
    n = np.arange(-half, half + 1, dtype=np.float64)
    h = np.sinc(n / m) * np.kaiser(2 * half + 1, 5.0)
    return h / h.sum() * up


class Resampler:
    """Streaming rational resampler: `push` blocks of any size, get the same samples as one-shot `resample`.

    Output sample n sits at input time n * in_rate / out_rate (no delay); the filter's look-ahead is held
    back until more input arrives, and `flush` releases it at the end of the stream (zeros after the end).
    """

    def __init__(self, in_rate: int, out_rate: int):
        if in_rate <= 0 or out_rate <= 0:
            raise ArpError(f"sample rates must be positive (got {in_rate} -> {out_rate})")
        frac = Fraction(int(out_rate), int(in_rate))
        self.up, self.down = frac.numerator, frac.denominator
        if max(self.up, self.down) > _MAX_RATIO_TERM:
            raise ArpError(
                f"cannot resample {in_rate} Hz to {out_rate} Hz: the ratio {self.up}/{self.down} needs a "
                f"filter of {20 * max(self.up, self.down) + 1} taps (at most {20 * _MAX_RATIO_TERM + 1}); "
                "use a common rate such as 16000, 44100 or 48000 Hz"
            )
        self.identity = self.up == self.down == 1
        if not self.identity:
            h = _kaiser_lowpass(self.up, self.down)
            self.centre = (len(h) - 1) // 2
            self.taps = math.ceil(len(h) / self.up) + 1  # input samples one output needs, at most
            hp = np.zeros(self.taps * self.up + self.up, np.float64)
            hp[: len(h)] = h
            self.h = hp
        self._buf = np.zeros(0, np.float32)  # the input tail still needed, starting at input index _buf0
        self._buf0 = 0
        self._n_in = 0
        self._n_out = 0

    def _last_input(self, n: np.ndarray) -> np.ndarray:
        return (n * self.down + self.centre) // self.up  # newest input index output n depends on

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self.identity:
            return x.copy()
        self._buf = np.concatenate([self._buf, x])
        self._n_in += len(x)
        return self._emit(self._n_in)

    def flush(self) -> np.ndarray:
        """The remaining outputs up to the end of the input, as if zeros followed."""
        if self.identity:
            return np.zeros(0, np.float32)
        total_out = -(-self._n_in * self.up // self.down)  # ceil
        pad = int(self._last_input(np.array([max(total_out - 1, 0)]))[0]) + 1 - self._n_in
        if pad > 0:
            self._buf = np.concatenate([self._buf, np.zeros(pad, np.float32)])
        out = self._emit(self._n_in + max(pad, 0), limit=total_out)
        return out

    def _emit(self, available: int, limit: int | None = None) -> np.ndarray:
        # outputs n with last_input(n) < available
        n_end = (available * self.up - self.centre - 1) // self.down + 1 if available > 0 else 0
        if limit is not None:
            n_end = min(n_end, limit)
        if n_end <= self._n_out:
            return np.zeros(0, np.float32)
        n = np.arange(self._n_out, n_end, dtype=np.int64)
        last = self._last_input(n)
        phase = (n * self.down + self.centre) - last * self.up  # filter offset of the newest input
        j = np.arange(self.taps, dtype=np.int64)
        idx = last[:, None] - j[None, :] - self._buf0  # (n_out, taps) positions in the buffer
        valid = idx >= 0  # before the buffer start: inputs before time 0 (zeros) or already released
        vals = np.where(valid, self._buf[np.clip(idx, 0, None)], 0.0)
        coef = self.h[phase[:, None] + self.up * j[None, :]]
        y = (vals * coef).sum(axis=1).astype(np.float32)
        self._n_out = n_end
        keep_from = int(self._last_input(np.array([n_end]))[0]) - self.taps + 1
        drop = max(0, keep_from - self._buf0)
        if drop:
            self._buf = self._buf[drop:]
            self._buf0 += drop
        return y


def resample(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """One-shot resampling of a mono signal (ceil(N * out / in) samples)."""
    r = Resampler(in_rate, out_rate)
    return np.concatenate([r.push(x), r.flush()])


class Chunker:
    """Collects samples and releases them in chunks of exactly `size` samples (the rest stays buffered)."""

    def __init__(self, size: int):
        if size <= 0:
            raise ArpError(f"chunk size must be positive (got {size})")
        self.size = size
        self._parts: list[np.ndarray] = []
        self._n = 0

    def push(self, x: np.ndarray) -> list[np.ndarray]:
        if len(x):
            self._parts.append(np.asarray(x, np.float32))
            self._n += len(x)
        if self._n < self.size:
            return []
        data = np.concatenate(self._parts)
        k = len(data) // self.size
        chunks = [data[i * self.size : (i + 1) * self.size] for i in range(k)]
        rest = data[k * self.size :]
        self._parts, self._n = ([rest] if len(rest) else []), len(rest)
        return chunks

    def flush(self) -> np.ndarray:
        """Whatever is left (shorter than a chunk)."""
        data = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        self._parts, self._n = [], 0
        return data
