import pytest

from ar_perception.graph.spec import QueueSpec, SyncSpec
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.queues import InputQueue
from ar_perception.runtime.sync import Synchronizer


def m(seq: int, t_ms: float = 0, topic: str = "a/x") -> Msg:
    return Msg(topic=topic, seq=seq, capture_ns=int(t_ms * 1e6))


def pop(q: InputQueue) -> Msg:
    """The next message of a queue that must hold one."""
    msg = q.pop()
    assert msg is not None
    return msg


def test_latest_keeps_newest_and_counts_drops():
    q = InputQueue("in", QueueSpec.model_validate("latest"))
    for i in range(5):
        q.push(m(i))
    assert pop(q).seq == 4 and q.pop() is None
    assert (q.received, q.dropped) == (5, 4)


def test_fifo_drops_oldest_past_n():
    q = InputQueue("in", QueueSpec.model_validate({"fifo": 3}))
    for i in range(5):
        q.push(m(i))
    assert [pop(q).seq for _ in range(3)] == [2, 3, 4]
    assert q.dropped == 2


def test_reliable_never_drops_and_reports_full():
    q = InputQueue("in", QueueSpec.model_validate("reliable"))
    assert q.size == 16
    for i in range(20):
        q.push(m(i))
    assert q.full() and q.dropped == 0 and len(q) == 20


def test_sequence_gaps_count_as_transport_drops_but_restart_does_not():
    q = InputQueue("in", QueueSpec.model_validate({"fifo": 100}))
    for s in (0, 1, 5, 6, 0, 1):  # 2..4 lost in transit; then the producer restarted
        q.push(m(s))
    assert q.dropped == 3


def test_exact_sync_matches_equal_capture_times_and_drops_orphans():
    s = Synchronizer(SyncSpec(mode="exact"), ["a", "b"])
    assert s.push("a", m(0, 0)) == []
    assert s.push("a", m(1, 100)) == []
    out = s.push("b", m(0, 100, "b/y"))
    assert len(out) == 1 and out[0]["a"].capture_ns == out[0]["b"].capture_ns == int(100e6)
    assert s.dropped == {"a": 1, "b": 0}


def test_approximate_sync_within_slop():
    s = Synchronizer(SyncSpec(mode="approximate", slop=0.010), ["a", "b"])
    s.push("a", m(0, 0))
    s.push("a", m(1, 33))
    (g,) = s.push("b", m(0, 38, "b/y"))  # 33 and 38 are 5 ms apart; 0 is too old
    assert g["a"].seq == 1 and g["b"].seq == 0
    assert s.push("b", m(1, 90, "b/y")) == []  # nothing of a near 90 ms yet
    (g,) = s.push("a", m(2, 95))
    assert (g["a"].seq, g["b"].seq) == (2, 1)


def test_latest_sync_triggers_on_one_input_with_newest_of_others():
    s = Synchronizer(SyncSpec(mode="latest", trigger="q"), ["q", "scene"])
    assert s.push("q", m(0, 0, "q/t")) == []  # no scene yet: nothing to pair with
    s.push("scene", m(0, 10, "s/x"))
    s.push("scene", m(1, 20, "s/x"))
    (g,) = s.push("q", m(1, 30, "q/t"))
    assert g["scene"].seq == 1 and g["q"].seq == 1


def test_sync_buffers_are_bounded_and_time_out():
    s = Synchronizer(SyncSpec(mode="exact", buffer=4, timeout=0.5), ["a", "b"])
    for i in range(10):
        s.push("a", m(i, i * 10))
    assert len(s.buffers["a"]) == 4 and s.dropped["a"] == 6
    s.push("a", m(10, 2000))  # 2 s later: everything older than 0.5 s expires
    assert len(s.buffers["a"]) == 1


@pytest.mark.parametrize("mode", ["exact", "approximate"])
def test_sync_never_matches_across_too_large_gaps(mode):
    s = Synchronizer(SyncSpec(mode=mode, slop=0.001), ["a", "b"])
    s.push("a", m(0, 0))
    assert s.push("b", m(0, 50, "b/y")) == []


def test_lossless_exact_sync_waits_for_a_trailing_input_however_far_behind():
    s = Synchronizer(SyncSpec(mode="exact", buffer=4, timeout=0.5), ["a", "b"], lossless=True)
    for i in range(4):  # 3 s of capture time on `a` before `b` sends anything: six times the timeout
        assert s.push("a", m(i, i * 1000)) == []
    assert s.full("a") and not s.full("b")
    with pytest.raises(ValueError, match=r"^sync input 'a' is full \(4 messages\): a lossless sync drops nothing"):
        s.push("a", m(4, 4000))  # its caller leaves `a` queued instead: backpressure
    got = [g for i in range(4) for g in s.push("b", m(i, i * 1000, "b/y"))]
    assert [(g["a"].seq, g["b"].seq) for g in got] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert s.dropped == {"a": 0, "b": 0}
    lossy = Synchronizer(SyncSpec(mode="exact", buffer=4, timeout=0.5), ["a", "b"])
    for i in range(4):
        lossy.push("a", m(i, i * 1000))
    assert [g["a"].seq for i in range(4) for g in lossy.push("b", m(i, i * 1000, "b/y"))] == [3]
    assert lossy.dropped == {"a": 3, "b": 3}


def test_lossless_sync_counts_what_can_never_match():
    s = Synchronizer(SyncSpec(mode="exact", timeout=0.5), ["a", "b"], lossless=True)
    for i, t in enumerate((0, 1000, 2000)):
        s.push("a", m(i, t))
    (g,) = s.push("b", m(0, 1000, "b/y"))  # `b` starts at 1 s: a's frame at 0 s has no partner, ever
    assert g["a"].seq == 1 and s.dropped == {"a": 1, "b": 0}
    s.end("b")  # b's producer ended: a's frame at 2 s and anything after it can no longer match
    assert s.push("a", m(3, 3000)) == []
    assert s.dropped == {"a": 3, "b": 0} and not s.buffers["a"]


def test_an_ended_input_still_matches_what_it_holds():
    s = Synchronizer(SyncSpec(mode="exact"), ["a", "b"], lossless=True)
    s.push("b", m(0, 100, "b/y"))
    s.end("b")  # ended, but its last message is still buffered
    (g,) = s.push("a", m(0, 100))
    assert g["b"].seq == 0 and s.dropped == {"a": 0, "b": 0}
