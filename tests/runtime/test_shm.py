"""The shared-memory path for large arrays (runtime/shm.py; graph option `shm: true`): slots, pins, fallback
to frames, growth, refusal of bad descriptors, and whole graphs that use it, leaving nothing in /dev/shm."""

import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ar_perception.errors import TransportError
from ar_perception.graph.load import parse_graph
from ar_perception.runtime.launch import run_graph
from ar_perception.runtime.msg import Msg, decode, encode
from ar_perception.runtime.shm import SHM_DIR, SHM_MIN, SLOTS, ShmReader, ShmWriter, remove_run_segments

REPO = Path(__file__).resolve().parents[2]
BIG = SHM_MIN  # bytes: the smallest message that takes the shared-memory path


@pytest.fixture
def prefix(tmp_path):
    """A segment prefix of this test's own (removed after it)."""
    name = f"arp-test{os.getpid()}{tmp_path.name[-12:]}"
    yield f"{SHM_DIR}/{name}-node-0"
    remove_run_segments(f"/x/{name}")


def frames_of(writer: ShmWriter, seq: int, value: int, nbytes: int = BIG) -> list:
    msg = Msg(arrays={"data": np.full(nbytes, value, np.uint8)}, topic="node/out", seq=seq)
    return encode(msg, writer)


def test_a_large_message_travels_as_its_envelope_and_a_pinned_view(prefix):
    w = ShmWriter(prefix, consumers=1)
    r = ShmReader(0)
    frames = frames_of(w, 0, 7)
    assert len(frames) == 1 and "shm" in json.loads(frames[0])  # no array frames
    msg = decode(frames, None, r)
    r.release(msg.seq)
    assert msg.data.shape == (BIG,) and (msg.data == 7).all()
    with pytest.raises(ValueError):
        msg.data.flags.writeable = True  # no node can write into the producer's slot
    assert w.seg is not None and w.seg.pin_at(0, 0) == 0  # held by the node
    data = msg.data
    del msg
    gc.collect()
    assert w.seg.pin_at(0, 0) == 0  # a view is still alive
    del data
    gc.collect()
    assert w.seg.pin_at(0, 0) == -1  # let go: the slot is free again
    small = encode(Msg(arrays={"data": np.zeros(SHM_MIN - 64, np.uint8)}, seq=1), w)
    assert len(small) == 2  # below SHM_MIN: frames
    w.close()
    assert not os.path.exists(f"{prefix}-{os.getpid()}-1")


def test_held_messages_pin_their_slots_and_then_messages_go_as_frames(prefix):
    w = ShmWriter(prefix, consumers=2)
    readers = [ShmReader(0), ShmReader(1)]
    held = []
    for seq in range(SLOTS):
        frames = frames_of(w, seq, seq)
        for i, r in enumerate(readers):
            m = decode(frames, None, r)
            r.release(seq)
            if i == 0:
                held.append(m)  # consumer 0 keeps every message
    assert w.fallbacks == 0
    frames = frames_of(w, SLOTS, 99)
    assert len(frames) == 2 and w.fallbacks == 1  # no free slot: as frames, never a wait, counted
    for r in readers:
        m = decode(frames, None, r)
        r.release(SLOTS)
        assert (m.data == 99).all()
    assert [int(m.data[0]) for m in held] == list(range(SLOTS))  # what is held was never overwritten
    del held[1], m
    gc.collect()
    frames = frames_of(w, SLOTS + 1, 42)
    assert json.loads(frames[0])["shm"][1] == 1  # the slot let go of is the one reused
    assert [int(m.data[0]) for m in held] == [0, 2, 3]


def test_a_consumer_that_joins_late_frees_the_slots_it_never_saw(prefix):
    w = ShmWriter(prefix, consumers=2)
    r0, r1 = ShmReader(0), ShmReader(1)
    for seq in range(SLOTS):
        decode(frames_of(w, seq, seq), None, r0)
        r0.release(seq)
    # Consumer 1 has received nothing yet (slow, or not connected): nothing may be reused.
    frames = frames_of(w, SLOTS, 0)
    assert len(frames) == 2 and json.loads(frames[0])["shm_seg"] == w.path
    for r in (r0, r1):  # a message as frames still names the segment: consumer 1 maps it, says what it has
        decode(frames, None, r)
    assert len(frames_of(w, SLOTS + 1, 0)) == 1  # shared memory again


def test_a_larger_message_makes_a_larger_segment_once_every_slot_is_free(prefix):
    w = ShmWriter(prefix, consumers=1)
    r = ShmReader(0)
    m = decode(frames_of(w, 0, 1), None, r)
    r.release(0)
    assert w.seg is not None
    first = w.seg.path
    assert len(frames_of(w, 1, 2, nbytes=4 * BIG)) == 2  # too large while message 0 is held: frames
    del m
    gc.collect()
    frames = frames_of(w, 2, 3, nbytes=4 * BIG)
    desc = json.loads(frames[0])["shm"]
    assert desc[0] != first and not os.path.exists(first)
    assert (decode(frames, None, r).data == 3).all()
    w.close()


def test_bad_descriptors_are_refused_by_name(prefix):
    w = ShmWriter(prefix, consumers=1)
    head = json.loads(frames_of(w, 0, 1)[0])
    r = ShmReader(0)
    assert w.seg is not None
    for desc, why in (
        (["/etc/passwd", 0, [0]], "is not an arp segment"),
        ([f"{SHM_DIR}/arp-../x", 0, [0]], "is not an arp segment"),
        ([head["shm"][0], 9, [0]], "slot 9 is not in"),
        ([head["shm"][0], 0, [w.seg.slot_size]], "do not fit slot 0"),
        ("nonsense", "malformed shared-memory descriptor"),
    ):
        bad = json.dumps(head | {"shm": desc}).encode()
        with pytest.raises(TransportError, match=why):
            decode([bad], None, r)
    with pytest.raises(TransportError, match="is in shared memory, which this input does not use"):
        decode([json.dumps(head).encode()], None, None)
    with pytest.raises(TransportError, match="consumers; this input is number 3"):
        decode([json.dumps(head).encode()], None, ShmReader(3))
    w.close()


GRAPH = """
shm: {shm}
nodes:
  - {{id: cam, node: pattern, params: {{fps: 200, frames: 60, size: [640, 480]}}}}
  - {{id: inv, node: invert, inputs: {{image: {{source: cam/image, queue: reliable}}}}}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: inv/image, queue: reliable}}}}}}
  - {{id: raw, node: sink, params: {{log: "{raw}"}}, inputs: {{in: {{source: cam/image, queue: reliable}}}}}}
"""


def test_a_graph_through_shared_memory_delivers_the_same_as_through_frames(tmp_path):
    logs = {}
    for shm in (False, True):
        log, raw = tmp_path / f"out{shm}.jsonl", tmp_path / f"raw{shm}.jsonl"
        g = parse_graph(GRAPH.format(shm=str(shm).lower(), log=log, raw=raw), str(tmp_path / "g.yaml"))
        r = run_graph(g, 60)
        assert r.reason == "all sources ended" and all(n.exit_code == 0 for n in r.nodes.values())
        logs[shm] = [json.loads(x) for x in log.read_text().splitlines()]
        assert len(logs[shm]) == 60 and len(raw.read_text().splitlines()) == 60
    assert [x["meta"]["frame"] for x in logs[True]] == [x["meta"]["frame"] for x in logs[False]] == list(range(60))
    assert not [n for n in os.listdir(SHM_DIR) if n.startswith("arp-") and "-cam-" in n]


def test_sigkill_of_the_supervisor_leaves_no_shared_memory(tmp_path):
    log = tmp_path / "out.jsonl"
    spec = tmp_path / "g.yaml"
    spec.write_text(GRAPH.format(shm="true", log=log, raw=tmp_path / "raw.jsonl").replace("frames: 60", "frames: 0"))
    p = subprocess.Popen(
        [sys.executable, "-m", "ar_perception.cli", "run", str(spec), "-q"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 5):
        time.sleep(0.05)
    segments = [n for n in os.listdir(SHM_DIR) if n.startswith("arp-") and "-cam-0-" in n]
    assert segments  # the run uses shared memory
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"{SHM_DIR}/{n}") for n in segments):
        time.sleep(0.05)
    assert not any(os.path.exists(f"{SHM_DIR}/{n}") for n in segments)  # the watchdog removed them


def test_only_outputs_whose_consumers_all_run_here_use_shared_memory(tmp_path):
    from ar_perception.runtime.plan import plan

    text = GRAPH.format(shm="true", log=tmp_path / "a", raw=tmp_path / "b")
    cfgs, _, _ = plan(parse_graph(text, "g.yaml"), str(tmp_path / "arp-run1"), False, "WARNING")
    cam = cfgs["cam"].outputs["image"]
    assert cam.shm_prefix == f"{SHM_DIR}/arp-run1-cam-0" and cam.shm_consumers == 2
    assert sorted(cfgs[n].inputs[p].shm_index or 0 for n, p in (("inv", "image"), ("raw", "in"))) == [0, 1]
    assert cfgs["inv"].outputs["image"].shm_consumers == 1
    tcp = text.replace("shm: true", "shm: true\ntransport: tcp")
    cfgs, _, _ = plan(parse_graph(tcp, "g.yaml"), str(tmp_path / "arp-run2"), False, "WARNING")
    assert all(o.shm_prefix is None for c in cfgs.values() for o in c.outputs.values())  # tcp: frames
    off = text.replace("shm: true", "shm: false")
    cfgs, _, _ = plan(parse_graph(off, "g.yaml"), str(tmp_path / "arp-run3"), False, "WARNING")
    assert all(i.shm_index is None for c in cfgs.values() for i in c.inputs.values())


def test_shared_memory_is_the_default_on_this_machine(tmp_path):
    from ar_perception.runtime.plan import plan

    text = GRAPH.format(shm="true", log=tmp_path / "a", raw=tmp_path / "b").replace("shm: true\n", "")
    cfgs, _, _ = plan(parse_graph(text, "g.yaml"), str(tmp_path / "arp-run4"), False, "WARNING")
    assert cfgs["cam"].outputs["image"].shm_prefix == f"{SHM_DIR}/arp-run4-cam-0"


def test_an_output_that_cannot_get_shared_memory_sends_frames_and_says_why(tmp_path):
    w = ShmWriter(str(tmp_path / "no-such-dir" / "arp-x-node-0"), consumers=1)  # as with no /dev/shm
    for seq in range(3):
        frames = frames_of(w, seq, seq)
        assert len(frames) == 2 and (decode(frames).data == seq).all()  # as frames, nothing lost
    assert w.fallbacks == 3 and w.unavailable is not None and "FileNotFoundError" in w.unavailable


def test_a_full_dev_shm_is_found_before_a_slot_is_written(prefix, monkeypatch):
    # A write into a page tmpfs cannot provide kills the process (SIGBUS): each slot's memory is reserved
    # when it is first used, and a refusal turns the output to frames. /dev/shm cannot be filled here, so the
    # kernel's answer (ENOSPC) is what the reservation is made to return.
    import errno

    w = ShmWriter(prefix, consumers=1)
    r = ShmReader(0)
    frames = frames_of(w, 0, 1)
    assert len(frames) == 1  # slot 0 reserved and used
    decode(frames, None, r)  # received and let go of at once
    r.release(0)
    calls = []

    def full(fd: int, offset: int, length: int) -> None:
        calls.append((offset, length))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    frames = frames_of(w, 1, 2)
    assert len(frames) == 1 and json.loads(frames[0])["shm"][1] == 0 and not calls  # slot 0: reserved already
    m = decode(frames, None, r)  # slot 0 pinned by this view ...
    r.release(1)
    frames = frames_of(w, 2, 3)  # ... so slot 1 is needed: its reservation fails
    assert calls and len(frames) == 2 and (decode(frames).data == 3).all()
    assert w.unavailable is not None and "No space left" in w.unavailable and w.seg is None
    assert not [n for n in os.listdir(SHM_DIR) if n.startswith(os.path.basename(prefix))]  # segment removed
    assert (m.data == 2).all()  # what a consumer holds stays readable
    assert len(frames_of(w, 3, 4)) == 2 and w.fallbacks == 2  # frames from now on, counted


def test_a_consumer_that_exits_holding_a_view_lets_go_of_its_slot(prefix):
    w = ShmWriter(prefix, consumers=1)
    head = encode(Msg(arrays={"data": np.full(BIG, 5, np.uint8)}, topic="node/out", seq=0), w)[0]
    child = (
        "import sys, numpy as np\n"
        "from ar_perception.runtime.msg import decode\n"
        "from ar_perception.runtime.shm import ShmReader\n"
        "held = decode([sys.argv[1].encode()], None, ShmReader(0))\n"  # kept to the end
        "assert (held.data == 5).all()\n"
    )
    subprocess.run([sys.executable, "-c", child, head.decode()], check=True, cwd=REPO)
    assert w.seg is not None and w.seg.pin_at(0, 0) == -1  # pinned in the child, let go at its exit
    w.close()


def test_a_consumer_unmaps_segments_its_producer_has_left(prefix, monkeypatch):
    # tmpfs keeps a deleted segment's memory while a process maps it: a reader lets go of a replaced segment
    # once the node drops its views, and of its segment when the producer turns to frames only.
    w = ShmWriter(prefix, consumers=1)
    r = ShmReader(0)
    held = decode(frames_of(w, 0, 1), None, r)
    r.release(0)
    del held
    gc.collect()
    first = r.seg
    kept = decode(frames_of(w, 1, 2, nbytes=4 * BIG), None, r)  # a larger segment; the first is unused
    r.release(1)
    assert r.seg is not first and not r.old  # unmapped at once
    second = r.seg

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    decode(frames_of(w, 2, 3, nbytes=8 * BIG), None, r)  # needs a new segment: refused, frames from now on
    frames = frames_of(w, 3, 4, nbytes=4 * BIG)
    assert len(frames) == 2 and "shm_seg" not in json.loads(frames[0])
    decode(frames, None, r)
    assert r.seg is None and r.old == [second]  # let go of, but still mapped: the node holds a view
    assert (kept.data == 2).all()
    del kept
    gc.collect()
    assert not r.old  # unmapped with the last view
