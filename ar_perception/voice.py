"""In-process voice pipelines behind `arp transcribe` and `arp ask`, the benchmarks and the tests: the same
nodes a graph runs (wav, speech, scene, vqa), driven through the test harness without processes; plus the
client side of `arp ask` for a running graph with `ask` and `ask_reply` nodes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ar_perception.errors import ArpError, RecordingError
from ar_perception.runtime.harness import NodeHarness
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.publish import output_sets

__all__ = [
    "normalize_words",
    "word_error_rate",
    "wav_messages",
    "transcribe",
    "scene_facts",
    "scene_through",
    "recording_scene",
    "recording_questions",
    "sim_scene",
    "answer",
    "ask_running_graph",
]


_SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation, hyphenated words split, titles spelt out (as transcripts write)."""
    words = re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()
    return [_SPOKEN.get(w, w) for w in (w.strip("'") for w in words) if w]


def word_error_rate(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits: substitutions + deletions + insertions, reference words) after `normalize_words`."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)], len(ref)


def wav_messages(path: str | Path, chunk_ms: float = 100.0, realtime: bool = False) -> Iterator[Msg]:
    """The Audio messages the `wav` node sends for a file."""
    from ar_perception.nodes.wav import Wav

    node = Wav(Wav.Params(path=str(path), chunk_ms=chunk_ms, realtime=realtime), node_id="wav")
    node.setup()
    try:
        for out in node.produce():
            if out is not None:  # None: the source waits (a start delay)
                yield out["audio"]
    finally:
        node.teardown()


def transcribe(
    path: str | Path, speech: NodeHarness | None = None, params: Mapping[str, Any] | None = None
) -> list[Msg]:
    """The Text messages (one per utterance) the `speech` node makes of a WAV file."""
    from ar_perception.nodes.speech import Speech

    h = speech or NodeHarness(Speech, params, node_id="speech")
    try:
        return [m for audio in wav_messages(path) for _, m in h.feed("audio", audio)]
    finally:
        if speech is None:
            h.close()


def scene_facts(
    labels: np.ndarray,
    depth: np.ndarray,
    classes: Sequence[str],
    camera: Mapping[str, Any] | None = None,
    capture_ns: int = 0,
    params: Mapping[str, Any] | None = None,
    image: np.ndarray | None = None,
    pose: np.ndarray | None = None,
) -> Msg:
    """The Text message (facts and `meta.model`) the `scene` node makes of one mask and depth (+ the image, for
    colours; + the camera's intrinsics and pose)."""
    mask = Msg(kind="Mask", arrays={"data": labels}, meta={"classes": list(classes)}, capture_ns=capture_ns)
    dep = Msg(kind="Depth", arrays={"data": np.asarray(depth, np.float32)}, capture_ns=capture_ns)
    frame = {"mask": mask, "depth": dep}
    if image is not None:
        frame["image"] = Msg(kind="Image", arrays={"data": image}, capture_ns=capture_ns)
    if camera:
        arrays = {"pose": np.asarray(pose, np.float64)} if pose is not None else {}
        frame["camera"] = Msg(kind="CameraInfo", arrays=arrays, meta=dict(camera), capture_ns=capture_ns)
    return scene_through([frame], params)


_FEED_ORDER = ("camera", "image", "mask", "depth")  # the scene node answers on mask + depth: the rest first


def scene_through(frames: Iterable[Mapping[str, Msg]], params: Mapping[str, Any] | None = None) -> Msg:
    """The newest facts of a `scene` node fed `frames` in order, each {input: Msg} (mask and depth, optionally
    image and camera): with camera poses, what it remembers of the earlier frames is in the last facts."""
    from ar_perception.nodes.scene import Scene

    h = NodeHarness(Scene, params, node_id="scene")
    last: Msg | None = None
    try:
        for frame in frames:
            for port in sorted(frame, key=_FEED_ORDER.index):
                for _, out in h.feed(port, frame[port]):
                    last = out
    finally:
        h.close()
    if last is None:
        raise ArpError("the scene node made no facts of these frames (each needs a mask and a depth)")
    return last


def sim_scene(
    seed: int,
    at_s: float = 0.0,
    scene: str = "room",
    trajectory: str = "orbit",
    size: tuple[int, int] = (320, 240),
    memory_s: float = 10.0,
    step_s: float = 0.5,
) -> tuple[Msg, Any]:
    """Scene facts from a simulated camera's ground truth at `at_s` seconds, and that frame. The frames of the
    `memory_s` before it, one every `step_s`, go through the scene node first (image, camera with its pose,
    labels, depth), so that it remembers what was seen."""
    from ar_perception.sim import SimSource

    src = SimSource(seed, size, scene, trajectory)
    start = max(0.0, at_s - memory_s)
    times = [start + k * step_s for k in range(int((at_s - start) / step_s + 1e-9))] + [at_s]
    frames: list[Any] = []

    def messages() -> Iterator[dict[str, Msg]]:
        for t in times:
            f = src.frame_at(t)
            frames.append(f)
            ns = round(t * 1e9)
            yield {
                "camera": Msg(kind="CameraInfo", arrays={"pose": f.pose}, meta=dict(f.intrinsics), capture_ns=ns),
                "image": Msg(kind="Image", arrays={"data": f.image}, capture_ns=ns),
                "mask": Msg(
                    kind="Mask", arrays={"data": f.labels}, meta={"classes": list(f.class_names)}, capture_ns=ns
                ),
                "depth": Msg(kind="Depth", arrays={"data": f.depth}, capture_ns=ns),
            }

    return scene_through(messages()), frames[-1]


def _pick(
    topics: Mapping[str, Any], kind: str, wanted: str | None, prefer: Callable[[str], tuple[int, str]]
) -> str | None:
    names = [t for t, info in topics.items() if info.kind == kind]
    if wanted is not None:
        if wanted not in names:
            raise RecordingError(f"no {kind} topic '{wanted}' in the recording (it has: {', '.join(names) or 'none'})")
        return wanted
    return sorted(names, key=prefer)[0] if names else None


def _nearest(msgs: Sequence[Msg], capture_ns: int) -> Msg | None:
    return min(msgs, key=lambda m: abs(m.capture_ns - capture_ns), default=None)


def recording_scene(
    path: str | Path,
    at_s: float,
    mask_topic: str | None = None,
    depth_topic: str | None = None,
    camera_topic: str | None = None,
    image_topic: str | None = None,
    memory_s: float = 10.0,
    step_s: float = 0.2,
) -> Msg:
    """Scene facts at `at_s` seconds into a recording: the newest mask recorded by then with its depth, image
    (for colours) and camera (intrinsics and pose). The masks of the `memory_s` before it, at most one every
    `step_s`, go through the scene node first, each with its own depth, image and camera, so that with camera
    poses it remembers what was seen (and says when).

    Without topic names it takes the segmentation and depth a head produced when the recording has them,
    and the ground truth of a simulated source otherwise (an instance mask has no class names: never used).
    """
    from ar_perception.recording.reader import RecordingReader

    r = RecordingReader(path)
    if not 0 <= at_s <= r.duration_s + 1e-6:
        raise RecordingError(f"{path}: --at {at_s:g} s is outside the recording (0 to {r.duration_s:.2f} s)")
    learned_first = lambda t: (t.endswith("_gt") or "instance" in t, t)  # noqa: E731
    masks = {t: i for t, i in r.topics.items() if "instance" not in t or t == mask_topic}
    mt = _pick(masks, "Mask", mask_topic, learned_first)
    dt = _pick(r.topics, "Depth", depth_topic, learned_first)
    ct = _pick(r.topics, "CameraInfo", camera_topic, lambda t: (0, t))
    it = _pick(r.topics, "Image", image_topic, lambda t: (0, t))
    if mt is None or dt is None:
        raise RecordingError(
            f"{path}: the scene needs a Mask and a Depth topic (it has: "
            + ", ".join(f"{t} ({i.kind})" for t, i in r.topics.items())
            + ")"
        )
    at_ns = r.start_ns + round(at_s * 1e9)
    begin = max(r.start_ns, at_ns - round(memory_s * 1e9))
    got: dict[str, list[Msg]] = {t: [] for t in (mt, dt, ct, it) if t}
    for m in r.messages(list(got), begin, at_ns + 1):
        got[m.topic].append(m)
    if not got[mt] or not got[dt]:
        raise RecordingError(f"{path}: nothing on {mt} and {dt} by {at_s:g} s")
    chosen: list[Msg] = []  # the newest mask, then back in time at least step_s apart
    for m in reversed(got[mt]):
        if not chosen or chosen[-1].capture_ns - m.capture_ns >= step_s * 1e9 - 1e6:
            chosen.append(m)
    frames = []
    for mask in reversed(chosen):
        frame = {"mask": mask}
        for port, topic in (("depth", dt), ("camera", ct), ("image", it)):
            near = _nearest(got[topic], mask.capture_ns) if topic else None
            if near is not None:
                frame[port] = near
        frames.append(frame)
    return scene_through(frames)


def recording_questions(
    path: str | Path, speech: NodeHarness, audio_topic: str | None = None
) -> list[tuple[Msg, float]]:
    """The utterances of a recording's audio track, each with when it ended (seconds into the recording)."""
    from ar_perception.recording.reader import RecordingReader

    r = RecordingReader(path)
    at = _pick(r.topics, "Audio", audio_topic, lambda t: (0, t))
    if at is None:
        raise RecordingError(f"{path}: no Audio topic to take questions from; give the question as text or --wav")
    out = []
    for m in r.messages([at]):
        for _, text in speech.feed("audio", m):
            out.append((text, (text.capture_ns - r.start_ns) / 1e9))
    # the recording may end while the speaker is still talking: close the utterance
    silence = Msg(
        kind="Audio",
        arrays={"data": np.zeros(1600, np.float32)},
        meta={"sample_rate": 16000, "last": True},
        capture_ns=r.end_ns,
    )
    for _, text in speech.feed("audio", silence):
        out.append((text, (text.capture_ns - r.start_ns) / 1e9))
    return out


def answer(
    vqa: NodeHarness,
    question: str | Msg,
    scene: Msg | None = None,
    on_update: Callable[[Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Ask a `vqa` node one question (with a new scene first, if given); the final Answer's metadata."""
    if scene is not None:
        vqa.feed("scene", scene)
    q = question if isinstance(question, Msg) else Msg(kind="Text", meta={"text": question})
    final: dict[str, Any] = {}
    for out in output_sets(vqa.node.on_input("question", q)):  # each update as the answer streams
        for _, m in vqa.pub.stamp(out):
            final = dict(m.meta)
            if on_update is not None:
                on_update(final)
    return final


def ask_running_graph(
    text: str,
    endpoint: str,
    answers: str,
    timeout_s: float = 60.0,
    on_update: Callable[[Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Send a question to a running graph's `ask` node and follow its answer on `ask_reply`'s endpoint."""
    import zmq

    from ar_perception.runtime.msg import decode

    qid = uuid.uuid4().hex[:12]
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    req = ctx.socket(zmq.REQ)
    try:
        for s in (sub, req):
            s.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(answers)  # before the question leaves, so that no token is missed
        req.connect(endpoint)
        req.send_json({"text": text, "id": qid})
        if not req.poll(3000):
            raise ArpError(
                f"no running graph takes questions at {endpoint}: start one with `ask` and `ask_reply` "
                "nodes (arp run graphs/ask.yaml), or answer offline with --recording or --sim"
            )
        reply = req.recv_json()
        if not isinstance(reply, dict):
            raise ArpError(f"{endpoint} is not a graph's `ask` node: it replied {reply!r} (expected a JSON object)")
        if not reply.get("ok"):
            raise ArpError(f"the graph refused the question: {reply.get('error')}")
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sub.poll(int(left * 1000)):
                raise ArpError(f"no answer within {timeout_s:g} s (is a vqa node wired to ask_reply at {answers}?)")
            msg = decode(sub.recv_multipart())
            if msg.meta.get("question_id") != qid:
                continue
            if on_update is not None:
                on_update(msg.meta)
            if msg.meta.get("done"):
                return dict(msg.meta)
    finally:
        sub.close(0)
        req.close(0)
        ctx.term()
