"""The voice nodes as processes of a real graph: a spoken question and a typed one (`arp ask`)."""

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from ar_perception.errors import ArpError
from ar_perception.graph.load import parse_graph
from ar_perception.runtime.launch import RunResult, Supervisor, run_graph
from ar_perception.voice import ask_running_graph

pytestmark = pytest.mark.slow


def test_spoken_question_is_answered_from_the_scene(tmp_path, speak):
    log = tmp_path / "answers.jsonl"
    g = parse_graph(
        f"""
nodes:
  - {{id: cam, node: sim, params: {{seed: 3, fps: 5, frames: 40}}}}
  - {{id: mic, node: wav, params: {{path: "{speak("what is closest")}", start_delay_s: 2.0, silence_s: 1.0}}}}
  - {{id: stt, node: speech, inputs: {{audio: {{source: mic/audio, queue: reliable}}}}}}
  - {{id: scene, node: scene, inputs: {{mask: cam/labels_gt, depth: cam/depth_gt, camera: cam/camera}}}}
  - id: vqa
    node: vqa
    inputs: {{question: {{source: stt/text, queue: reliable}}, scene: scene/facts}}
  - {{id: out, node: sink, params: {{log: "{log}"}}, inputs: {{in: {{source: vqa/answer, queue: reliable}}}}}}
""",
        "voice.yaml",
    )
    r = run_graph(g, 60)
    assert r.reason == "all sources ended", r
    answers = [json.loads(line)["meta"] for line in log.read_text().splitlines()]
    final = [a for a in answers if a["done"]]
    assert len(final) == 1 and final[0]["question"].lower().startswith("what is closest")
    assert final[0]["intent"] == "nearest" and "metres" in final[0]["text"]
    assert 0 < final[0]["first_token_s"] < 5  # from the end of the spoken question


def test_typed_question_into_a_running_graph(tmp_path):
    ask_ep, reply_ep = f"ipc://{tmp_path}/ask", f"ipc://{tmp_path}/answers"
    g = parse_graph(
        f"""
nodes:
  - {{id: cam, node: sim, params: {{seed: 3, fps: 5, frames: 0}}}}
  - {{id: scene, node: scene, inputs: {{mask: cam/labels_gt, depth: cam/depth_gt, camera: cam/camera}}}}
  - {{id: ask, node: ask, params: {{endpoint: "{ask_ep}"}}}}
  - id: vqa
    node: vqa
    inputs: {{question: {{source: ask/question, queue: reliable}}, scene: scene/facts}}
  - id: reply
    node: ask_reply
    params: {{endpoint: "{reply_ep}"}}
    inputs: {{answer: {{source: vqa/answer, queue: reliable}}}}
""",
        "ask.yaml",
    )
    stop = threading.Event()
    result: dict[str, RunResult] = {}
    t = threading.Thread(target=lambda: result.update(r=Supervisor(g).run(90, stop.is_set)))
    t.start()
    try:
        deadline, final = time.monotonic() + 60, None
        updates: list[Mapping[str, Any]] = []
        while final is None or final["intent"] == "none":  # "none": asked before the first scene arrived
            updates.clear()
            try:
                final = ask_running_graph("What is nearest?", ask_ep, reply_ep, 30, updates.append)
            except ArpError:  # the graph is still starting
                if time.monotonic() > deadline:
                    raise
        assert final["done"] and final["intent"] == "nearest" and "metres" in final["text"]
        assert len(updates) >= 2 and updates[-1] == final
    finally:
        stop.set()
        t.join(30)
    assert not (tmp_path / "ask").exists()  # the endpoint is removed at stop
