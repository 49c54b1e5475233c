"""Write recordings/sample.mcap: a short simulated room walk-through with a spoken question in its audio track.

Deterministic on one machine: the same bytes on every run (fixed seed, fixed clock starting
2026-01-01T00:00:00Z). On another CPU the ray caster and numpy's vector maths (SIMD code chosen per CPU)
round differently, so a few pixels per frame come out a colour level or a millimetre of depth apart
(tests/recording/test_commands.py bounds how many and how far); the bundled file is one machine's output.
The camera topics are what the `sim` node publishes (cam/image, cam/depth_gt, cam/labels_gt,
cam/instances_gt, cam/camera), the audio what the `wav` node publishes (mic/audio: 16 kHz mono float32 in
100 ms chunks) from espeak-ng saying the question, resampled by sox. Depth is rounded to whole millimetres (as
a depth sensor delivers it; `meta.depth_quantum_m` says so): the float noise below that would make the file
ten times bigger.

    .venv/bin/python scripts/make_sample_recording.py [-o recordings/sample.mcap]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ar_perception.recording.writer import RecordingWriter  # noqa: E402
from ar_perception.runtime.msg import Msg  # noqa: E402

QUESTION = "how far is the table"  # seed 7 keeps a table in view for the whole walk
SEED, SCENE, TRAJECTORY, FPS, SIZE, SECONDS = 7, "room", "walk", 5.0, (320, 240), 7.0
RATE, CHUNK_S, QUESTION_AT_S = 16000, 0.1, 2.0
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
PUBLISH_DELAY_NS = 2_000_000  # capture -> publish, as a source node would take
DEPTH_QUANTUM_M = 0.001

CAM_PARAMS = f"seed: {SEED}, scene: {SCENE}, trajectory: {TRAJECTORY}, fps: {FPS:g}, size: [{SIZE[0]}, {SIZE[1]}]"
GRAPH = f"""\
# The sample session (scripts/make_sample_recording.py): a simulated room walk-through at {FPS:g} fps
# with a spoken question ("{QUESTION}", espeak-ng) in the audio track.
nodes:
  - id: cam
    node: sim
    params: {{{CAM_PARAMS}, frames: {int(SECONDS * FPS)}}}
  - id: mic
    node: wav
    params: {{path: question.wav, chunk_ms: {CHUNK_S * 1000:g}}}
"""


def speak(text: str) -> np.ndarray:
    """The question as 16 kHz mono float32: espeak-ng, resampled by sox (no dither, so deterministic)."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed; install it with: sudo apt-get install espeak-ng sox")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "q.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
        raw = subprocess.run(
            [
                "sox",
                "-D",
                str(wav),
                "-t",
                "raw",
                "-e",
                "floating-point",
                "-b",
                "32",
                "-L",
                "-r",
                str(RATE),
                "-c",
                "1",
                "-",
            ],
            check=True,
            capture_output=True,
        ).stdout
    return np.frombuffer(raw, "<f4").astype(np.float32)


def messages() -> list[tuple[int, str, Msg]]:
    """(publish time, topic, message) of the whole session, in publish order."""
    from ar_perception.sim import SimSource

    out: list[tuple[int, str, Msg]] = []
    sim = SimSource(SEED, SIZE, SCENE, TRAJECTORY, FPS)
    for i in range(int(SECONDS * FPS)):
        f = sim.frame(i)
        capture = T0_NS + round(i * 1e9 / FPS)
        meta = {"frame": i, "sim_time": f.time, "seed": SEED}
        depth = (np.round(f.depth / DEPTH_QUANTUM_M) * DEPTH_QUANTUM_M).astype(np.float32)  # (H, W) metres
        for topic, kind, arrays, m in (
            ("cam/image", "Image", {"data": f.image}, meta),
            ("cam/depth_gt", "Depth", {"data": depth}, {**meta, "depth_quantum_m": DEPTH_QUANTUM_M}),
            ("cam/labels_gt", "Mask", {"data": f.labels}, {**meta, "classes": list(f.class_names)}),
            ("cam/instances_gt", "Mask", {"data": f.instances}, {**meta, "classes": []}),
            ("cam/camera", "CameraInfo", {"pose": f.pose}, {**meta, **f.intrinsics}),
        ):
            out.append((capture + PUBLISH_DELAY_NS, topic, Msg(kind, arrays, m, capture)))
    track = np.zeros(int(SECONDS * RATE), np.float32)
    voice = speak(QUESTION)
    at = int(QUESTION_AT_S * RATE)
    track[at : at + len(voice)] = voice[: len(track) - at]
    chunk = int(CHUNK_S * RATE)
    for s in range(0, len(track), chunk):
        data = track[s : s + chunk]
        capture = T0_NS + round((s + len(data)) * 1e9 / RATE)  # the chunk's last sample, as the wav node
        meta = {"sample_rate": RATE, "offset_s": s / RATE, "last": s + chunk >= len(track)}
        out.append((capture + PUBLISH_DELAY_NS, "mic/audio", Msg("Audio", {"data": data}, meta, capture)))
    out.sort(key=lambda x: x[0])  # stable: simultaneous messages keep their order above
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=REPO / "recordings" / "sample.mcap")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    seqs: dict[str, int] = {}
    # Chunks close by size only (no flush timer), so that the bytes do not depend on how fast this machine is.
    with RecordingWriter(
        args.out,
        graph=GRAPH,
        created_ns=T0_NS,
        flush_s=float("inf"),
        compression="zstd",
        metadata={"source": "scripts/make_sample_recording.py", "question": QUESTION},
    ) as w:
        for publish_ns, topic, m in messages():
            seq = seqs.get(topic, 0)
            seqs[topic] = seq + 1
            w.write(Msg(m.kind, m.arrays, m.meta, m.capture_ns, topic=topic, seq=seq, publish_ns=publish_ns))
    print(
        f"{args.out}: {args.out.stat().st_size / 1e6:.2f} MB, "
        + ", ".join(f"{t} x{n}" for t, n in sorted(seqs.items()))
    )


if __name__ == "__main__":
    main()
