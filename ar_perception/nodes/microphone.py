"""Live audio from a sound input device (sounddevice / PortAudio) as 16 kHz mono float32 Audio chunks."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ar_perception.audio import Chunker, Resampler, to_mono
from ar_perception.errors import MissingExtraError, NodeError
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["Microphone", "AudioAssembler", "describe_devices", "pick_input_device"]


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise MissingExtraError("sounddevice", "speech") from None
    except OSError as e:  # the module is there but the PortAudio library is not
        raise NodeError(
            f"sounddevice cannot load the PortAudio library ({e}); install it with: sudo apt-get install libportaudio2"
        ) from None
    return sounddevice


def describe_devices(devices: Sequence[dict[str, Any]]) -> str:
    """`0 'Built-in Microphone' (2 in, 0 out), ...` or `none`."""
    return (
        ", ".join(
            f"{i} '{d.get('name', '?')}' ({d.get('max_input_channels', 0)} in, {d.get('max_output_channels', 0)} out)"
            for i, d in enumerate(devices)
        )
        or "none"
    )


def pick_input_device(
    node_id: str, devices: Sequence[dict[str, Any]], wanted: int | str | None, default: int | None
) -> int:
    """Index of the input device to open: `wanted` (index or part of a name), else the default input."""
    found = f"(devices found: {describe_devices(devices)})"
    inputs = [i for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]
    if wanted is None:
        if default is not None and default in inputs:
            return default
        if inputs:
            return inputs[0]
        raise NodeError(
            f"node '{node_id}': no audio input device found {found}. "
            "Connect a microphone, or read a file with node 'wav'."
        )
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
        idx = int(wanted)
        if not 0 <= idx < len(devices):
            raise NodeError(f"node '{node_id}': params.device: there is no audio device {idx} {found}")
    else:
        named = [i for i, d in enumerate(devices) if wanted.lower() in str(d.get("name", "")).lower()]
        named_in = [i for i in named if i in inputs]
        if not named:
            raise NodeError(f"node '{node_id}': params.device: no audio device is named like '{wanted}' {found}")
        idx = (named_in or named)[0]
    if idx not in inputs:
        raise NodeError(
            f"node '{node_id}': params.device: device {idx} '{devices[idx].get('name', '?')}' "
            f"has no input channels {found}"
        )
    return idx


class AudioAssembler:
    """Turns device blocks (frames, channels) at any rate into mono chunks of a fixed size at `out_rate`.

    Channels are averaged, integer PCM (int16, int32, uint8) is scaled to [-1, 1], the overshoot resampling adds
    to full-scale input is clipped, and empty blocks are fine.

    Each chunk's capture time is that of its last sample, derived from the arrival time of the block that
    completed it (the device delivers a block when its last sample is in).
    """

    def __init__(self, in_rate: int, out_rate: int, chunk: int):
        self.out_rate = out_rate
        self.resampler = Resampler(in_rate, out_rate)
        self.chunker = Chunker(chunk)
        # outputs the resampler holds back for its look-ahead, in output samples
        self.lookahead = 0 if self.resampler.identity else self.resampler.centre / self.resampler.down

    def push(self, block: np.ndarray, arrival_ns: int) -> list[tuple[np.ndarray, int]]:
        mono = self.resampler.push(to_mono(block))
        chunks = self.chunker.push(np.clip(mono, -1.0, 1.0, out=mono))
        behind = self.chunker._n + self.lookahead  # samples after the newest chunk's end, in output samples
        out = []
        for k, c in enumerate(chunks):
            later = behind + (len(chunks) - 1 - k) * self.chunker.size
            out.append((c, arrival_ns - round(later * 1e9 / self.out_rate)))
        return out


class Microphone(Node):
    """Audio from a microphone: mono float32 chunks at `sample_rate` (16 kHz), resampled if the device
    cannot capture at that rate. With no input device, setup fails with the list of devices found."""

    outputs = {"audio": "Audio"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        device: int | str | None = Field(None, description="device index or part of its name; none = default input")
        sample_rate: int = Field(16000, gt=0, description="output rate in Hz")
        capture_rate: int | None = Field(
            None, gt=0, description="device rate; none = sample_rate if supported, else the device's default"
        )
        channels: int = Field(1, ge=1, description="channels captured (averaged to mono)")
        chunk_ms: float = Field(100.0, gt=0, le=5000, description="chunk length")
        block_ms: float = Field(20.0, gt=0, le=1000, description="device block length")
        buffer_s: float = Field(5.0, gt=0, description="audio held while the graph is slow, then oldest dropped")

    params: Params

    def setup(self) -> None:
        sd = self._sd = _sounddevice()
        devices = list(sd.query_devices())
        default = sd.default.device[0] if sd.default.device is not None else None
        default = default if isinstance(default, int) and default >= 0 else None
        self._device = pick_input_device(self.id, devices, self.params.device, default)
        info = devices[self._device]
        rate = self.params.capture_rate
        if rate is None:
            rate = self.params.sample_rate
            try:
                sd.check_input_settings(
                    device=self._device, channels=self.params.channels, dtype="float32", samplerate=rate
                )
            except Exception:
                rate = int(info.get("default_samplerate") or 48000)
        self._rate = int(rate)
        self.dropped_blocks = 0
        self.overflows = 0
        self._blocks: queue.Queue[tuple[np.ndarray, int]] = queue.Queue(
            maxsize=max(1, round(self.params.buffer_s * 1000 / self.params.block_ms))
        )
        try:
            self._stream = sd.InputStream(
                device=self._device,
                channels=self.params.channels,
                samplerate=self._rate,
                dtype="float32",
                callback=self._callback,
                blocksize=max(1, round(self._rate * self.params.block_ms / 1000)),
            )
        except Exception as e:
            raise NodeError(
                f"node '{self.id}': cannot open audio device {self._device} '{info.get('name', '?')}' "
                f"({self.params.channels} channel(s) at {self._rate} Hz): {e}"
            ) from None

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy the block out and queue it; never block."""
        if status:
            self.overflows += 1
        item = (np.array(indata, np.float32, copy=True), time.time_ns())
        try:
            self._blocks.put_nowait(item)
        except queue.Full:  # the graph stalls: keep the newest audio
            self.dropped_blocks += 1
            try:
                self._blocks.get_nowait()
            except queue.Empty:
                pass
            self._blocks.put_nowait(item)

    def produce(self) -> Iterator[Outputs]:
        p = self.params
        blocks, stream = self._blocks, self._stream
        asm = AudioAssembler(self._rate, p.sample_rate, max(1, round(p.sample_rate * p.chunk_ms / 1000)))
        offset = 0
        warned = False
        try:
            stream.start()
            while not self.stopping:
                try:
                    block, arrival = blocks.get(timeout=0.1)
                except queue.Empty:
                    continue
                if (self.overflows or self.dropped_blocks) and not warned:
                    warned = True
                    self.log.warning(
                        "node '%s': audio lost (%d device overflows, %d blocks dropped while the graph was slow)",
                        self.id,
                        self.overflows,
                        self.dropped_blocks,
                    )
                for data, capture_ns in asm.push(block, arrival):
                    yield {
                        "audio": Msg(
                            kind="Audio",
                            arrays={"data": data},
                            meta={"sample_rate": p.sample_rate, "offset_s": offset / p.sample_rate},
                            capture_ns=capture_ns,
                        )
                    }
                    offset += len(data)
        finally:
            stream.stop()

    def teardown(self) -> None:
        if getattr(self, "_stream", None) is not None:
            self._stream.close()
