"""The microphone node's real code path (callback, queue, downmix, resampling, chunking) against a generated
stream from a stand-in for sounddevice, and its errors when there is no input device."""

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from ar_perception.audio import resample
from ar_perception.errors import NodeError
from ar_perception.nodes import microphone
from ar_perception.nodes.microphone import Microphone
from ar_perception.runtime.harness import run_source

RATE = 48000
T = np.arange(RATE) / RATE
LEFT = (0.4 * np.sin(2 * np.pi * 440 * T)).astype(np.float32)
RIGHT = (0.2 * np.sin(2 * np.pi * 440 * T)).astype(np.float32)


class FakeStream:
    """Calls the callback from another thread with (frames, channels) blocks, as PortAudio does."""

    opened: list["FakeStream"] = []

    def __init__(self, device, channels, samplerate, dtype, blocksize, callback):
        self.device, self.channels, self.samplerate, self.blocksize = device, channels, samplerate, blocksize
        self.callback, self.dtype = callback, dtype
        self.stopped = self.closed = False
        FakeStream.opened.append(self)

    def start(self):
        def run():
            stereo = np.stack([LEFT, RIGHT], axis=1)[:, : self.channels]
            for i in range(0, len(stereo), self.blocksize):
                if self.stopped:
                    return
                self.callback(stereo[i : i + self.blocksize], self.blocksize, None, None)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped = True

    def close(self):
        self.closed = True


def fake_sd(devices, default_input=0):
    def check_input_settings(device, channels, dtype, samplerate):
        if samplerate != RATE:
            raise ValueError("Invalid sample rate")

    return SimpleNamespace(
        query_devices=lambda: devices,
        default=SimpleNamespace(device=[default_input, -1]),
        check_input_settings=check_input_settings,
        InputStream=FakeStream,
    )


DEVICES = [
    {"name": "HDMI out", "max_input_channels": 0, "max_output_channels": 8, "default_samplerate": 48000.0},
    {"name": "USB Headset Mic", "max_input_channels": 2, "max_output_channels": 0, "default_samplerate": 48000.0},
]


def test_generated_stream_becomes_16k_mono_chunks(monkeypatch):
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake_sd(DEVICES, default_input=1))
    FakeStream.opened.clear()
    out = run_source(Microphone, {"channels": 2, "chunk_ms": 100}, limit=9)
    stream = FakeStream.opened[0]
    assert stream.device == 1 and stream.samplerate == RATE and stream.channels == 2 and stream.dtype == "float32"
    assert stream.stopped and stream.closed  # released when the source stops
    msgs = [m for _, m in out]
    assert all(m.kind == "Audio" and m.meta["sample_rate"] == 16000 and m.data.shape == (1600,) for m in msgs)
    assert [m.meta["offset_s"] for m in msgs][:3] == [0.0, 0.1, 0.2]
    got = np.concatenate([m.data for m in msgs])
    want = resample((LEFT + RIGHT) / 2, RATE, 16000)[: len(got)]  # stereo averaged, then 48 -> 16 kHz
    assert np.abs(got - want).max() < 1e-6
    assert [m.capture_ns for m in msgs] == sorted(m.capture_ns for m in msgs)


def test_device_chosen_by_name_at_its_native_rate(monkeypatch):
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake_sd(DEVICES, default_input=-1))
    FakeStream.opened.clear()
    out = run_source(Microphone, {"device": "usb"}, limit=2)
    assert FakeStream.opened[0].device == 1 and FakeStream.opened[0].channels == 1
    assert len(out) == 2


def test_no_input_device_lists_the_devices_found(monkeypatch):
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake_sd(DEVICES[:1], default_input=-1))
    with pytest.raises(NodeError) as e:
        run_source(Microphone, {})
    assert str(e.value) == (
        "node 'source': no audio input device found (devices found: 0 'HDMI out' (0 in, 8 out)). "
        "Connect a microphone, or read a file with node 'wav'."
    )
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake_sd([], default_input=-1))
    with pytest.raises(NodeError) as e:
        run_source(Microphone, {})
    assert str(e.value) == (
        "node 'source': no audio input device found (devices found: none). "
        "Connect a microphone, or read a file with node 'wav'."
    )


def test_a_named_device_that_cannot_record(monkeypatch):
    monkeypatch.setattr(microphone, "_sounddevice", lambda: fake_sd(DEVICES))
    with pytest.raises(NodeError) as e:
        run_source(Microphone, {"device": 0})
    assert str(e.value) == (
        "node 'source': params.device: device 0 'HDMI out' has no input channels "
        "(devices found: 0 'HDMI out' (0 in, 8 out), 1 'USB Headset Mic' (2 in, 0 out))"
    )
    with pytest.raises(NodeError, match=r"params.device: no audio device is named like 'webcam' \(devices found"):
        run_source(Microphone, {"device": "webcam"})


def test_real_sounddevice_on_a_machine_without_sound_card():
    sd = pytest.importorskip("sounddevice")
    if any(d["max_input_channels"] > 0 for d in sd.query_devices()):
        pytest.skip("this machine has an input device")
    with pytest.raises(NodeError, match=r"^node 'source': no audio input device found \(devices found: "):
        run_source(Microphone, {})


def test_a_device_that_will_not_open(monkeypatch):
    sd = fake_sd(DEVICES, default_input=1)

    def busy(**kw):
        raise RuntimeError("Device unavailable [PaErrorCode -9985]")

    sd.InputStream = busy
    monkeypatch.setattr(microphone, "_sounddevice", lambda: sd)
    with pytest.raises(NodeError) as e:
        run_source(Microphone, {})
    assert str(e.value) == (
        "node 'source': cannot open audio device 1 'USB Headset Mic' (1 channel(s) at 48000 Hz): "
        "Device unavailable [PaErrorCode -9985]"
    )
