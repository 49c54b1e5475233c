"""A node that cannot keep up with a lossy input is told about (runtime/lag.py): forced with synthetic
statistics, and with a node that is slower than its source by construction."""

import logging
from pathlib import Path

from ar_perception.graph.load import parse_graph
from ar_perception.runtime.lag import REPEAT_S, WINDOW_S, LagWatch
from ar_perception.runtime.launch import run_graph

HERE = Path(__file__).parent


def snap(handled: int, skipped: int) -> dict:
    return {"in": {"image": handled}, "drops": {"image": skipped}}


def test_a_window_with_as_many_skipped_as_handled_warns_once_per_repeat(caplog):
    w = LagWatch("enc", {"image": "cam/image"}, logging.getLogger("arp.enc"))
    assert w.update(0.0, snap(0, 0)) == []
    assert w.update(WINDOW_S - 0.1, snap(10, 30)) == []  # the window is not complete yet
    (line,) = w.update(WINDOW_S, snap(10, 30))
    assert line == (
        "node 'enc' cannot keep up with input 'image' (cam/image): in the last 5 s it handled 10 messages and "
        "skipped 30; its queue keeps the latency bounded by skipping (a lower rate or resolution upstream, or a "
        "faster model, helps)"
    )
    assert w.lagging == {"image"} and caplog.records[-1].levelname == "WARNING"
    assert w.update(2 * WINDOW_S, snap(20, 60)) == []  # still behind: not warned again so soon
    assert w.lagging == {"image"}
    assert w.update(3 * WINDOW_S, snap(40, 61)) == []  # caught up: handled 20, skipped 1
    assert w.lagging == set()
    assert len(w.update(3 * WINDOW_S + REPEAT_S, snap(41, 200))) == 1  # behind again, after REPEAT_S


def test_a_node_slower_than_its_source_reports_that_it_is_behind(tmp_path, caplog):
    g = parse_graph(
        """
nodes:
  - {id: cam, node: pattern, params: {fps: 40, size: [32, 24]}}
  - {id: slow, node: "faulty:Slow", params: {seconds: 0.25}, inputs: {in: cam/image}}
""",
        "g.yaml",
        search_paths=[str(HERE)],
    )
    r = run_graph(g, 2 * WINDOW_S)  # 40 frames/s offered, at most 4/s handled: behind by construction
    stats = r.nodes["slow"].stats
    assert stats["lagging"] == ["in"]
    assert stats["drops"]["in"] > stats["in"]["in"]
    assert "lagging" not in r.nodes["cam"].stats
