"""Questions about scene facts: which fact answers which question, and the real SmolLM2-135M answering."""

import time
from itertools import pairwise

import pytest

from ar_perception.errors import ModelError
from ar_perception.nodes._grounding import ground
from ar_perception.nodes.scene import Scene
from ar_perception.nodes.vqa import Vqa, resolve_gguf
from ar_perception.runtime.harness import run_node
from ar_perception.runtime.msg import Msg

from .test_scene import msgs, room


@pytest.fixture(scope="module")
def facts() -> Msg:
    ((_, f),) = run_node(Scene, msgs(*room()))
    return f


def q(text: str, **meta) -> Msg:
    return Msg(kind="Text", meta={"text": text, **meta})


@pytest.mark.parametrize(
    "question, intent, fact",
    [
        ("How far is the table?", "distance", "The table is 2.3 metres away, straight ahead."),
        ("how far away is the chair", "distance", "The nearest chair is 1.2 metres away, on the left."),
        ("Is there a person?", "exists", "Yes, there is a person, 3.1 metres away, on the right."),
        ("Are there any chairs?", "exists", "Yes, there are 2 chairs; the nearest is 1.2 metres away, on the left."),
        ("Is there a lamp?", "exists", "No, there is no lamp in view."),
        ("What is nearest?", "nearest", "The nearest object is the chair, 1.2 metres away, on the left."),
        ("Which thing is closest to me?", "nearest", "The nearest object is the chair, 1.2 metres away, on the left."),
        ("What is left of the table?", "relation", "Left of the table is the chair."),
        ("What is to the right of the table?", "relation", "Right of the table are the chair and the person."),
        ("What is left of the chair?", "relation", "Nothing is left of the nearest chair."),
        ("How many chairs are there?", "count", "There are 2 chairs in view."),
        ("Where is the person?", "where", "The person is on the right, 3.1 metres away."),
        ("Is there a ramp?", "exists", "No, there is no lamp in view."),  # a misheard word that sounds like a class
        ("how far is the care", "distance", "The nearest chair is 1.2 metres away, on the left."),
        (
            "Isn't there my mouth?",
            "unknown",
            "I did not catch which object you mean; I can see a chair, a person, a table.",
        ),
    ],
)
def test_the_fact_that_answers_each_question_form(facts, question, intent, fact):
    g = ground(question, dict(facts.meta))
    assert (g.intent, g.facts) == (intent, [fact])


def test_open_questions_get_every_fact_or_the_things_facts(facts):
    g = ground("Describe the room.", dict(facts.meta))
    assert g.intent == "open" and g.facts == facts.meta["text"].splitlines() and g.prefix is None
    g = ground("What colour is the table?", dict(facts.meta))
    assert g.facts == ["table: 2.3 m away, centre, level, 0.6 m wide, 0.5 m tall.", "Nothing else is known about it."]
    assert ground("Is there a chair?", None).facts == ["Nothing has been seen yet: no scene facts have arrived."]


def test_real_llm_answers_from_the_fact_and_streams(vqa, facts):
    vqa.feed("scene", facts)
    out = vqa.feed("question", q("How far is the table?", id="q1"))
    metas = [m.meta for _, m in out]
    assert len(out) >= 3 and all(name == "answer" and m.kind == "Answer" for name, m in out)
    assert [m["done"] for m in metas] == [False] * (len(metas) - 1) + [True]
    texts = [m["text"] for m in metas]
    assert all(b.startswith(a) for a, b in pairwise(texts))  # text so far, growing
    final = metas[-1]
    assert "2.3" in final["text"] and "table" in final["text"].lower()
    assert final["question"] == "How far is the table?" and final["question_id"] == "q1"
    assert final["tokens"] >= 2 and final["tokens_per_s"] > 0 and 0 < final["first_token_s"] <= final["latency_s"]
    assert [m["latency_s"] for m in metas] == sorted(m["latency_s"] for m in metas)


def test_a_replayed_question_is_timed_from_its_replay(vqa, facts):
    # recorded an hour ago, replayed now: the latency counts from the replay, not from the recording
    vqa.feed("scene", facts)
    hour = 3600 * 10**9
    asked = time.time_ns()
    out = vqa.feed(
        "question", Msg(kind="Text", meta={"text": "Is there a lamp?"}, capture_ns=asked - hour, clock_offset_ns=hour)
    )
    waited = (time.time_ns() - asked) / 1e9  # the test's own clock brackets every figure the node measured
    final = out[-1][1].meta
    assert final["done"] and out[-1][1].clock_offset_ns == hour
    assert 0 < final["first_token_s"] <= final["latency_s"] <= waited + 1e-4  # 1e-4: the figures are rounded


def test_temperature_zero_gives_the_same_answer_twice(vqa, facts):
    vqa.feed("scene", facts)
    asked = ("What colour is the table?", "Is there a lamp?")
    a = [vqa.feed("question", q(text))[-1][1].meta["text"] for text in asked]
    b = [vqa.feed("question", q(text))[-1][1].meta["text"] for text in asked]
    assert a == b and a[1].startswith("No")


def test_busy_queue_answers_both_in_turn(vqa, facts):
    vqa.feed("scene", facts)
    vqa.node.params.on_busy = "queue"
    out = vqa.feed_all(
        [("question", q("How far is the person?", id="a")), ("question", q("Is there a chair?", id="b"))]
    )
    finals = [m.meta for _, m in out if m.meta["done"]]
    assert [(f["question_id"], f["interrupted"]) for f in finals] == [("a", False), ("b", False)]
    assert "3.1" in finals[0]["text"] and finals[1]["text"].startswith("Yes")


def test_busy_interrupt_cuts_the_first_answer_short(vqa, facts):
    vqa.feed("scene", facts)
    vqa.node.params.on_busy = "interrupt"
    try:
        out = vqa.feed_all(
            [("question", q("Describe the room.", id="a")), ("question", q("Is there a chair?", id="b"))]
        )
    finally:
        vqa.node.params.on_busy = "queue"
    finals = [m.meta for _, m in out if m.meta["done"]]
    assert [(f["question_id"], f["interrupted"]) for f in finals] == [("a", True), ("b", False)]
    assert finals[0]["tokens"] == 1  # it stopped at the first token: the next question was already waiting
    assert finals[1]["text"].startswith("Yes")


def test_unsure_speech_is_not_a_question(facts):
    out = run_node(Vqa, [("scene", facts), ("question", q("how far is the table", confidence=0.2))], {"min_score": 0.5})
    assert out == []


def test_model_resolution_errors(tmp_path):
    path, file = resolve_gguf("smollm2-135m")
    assert path.endswith(".gguf") and file is None
    assert resolve_gguf(path) == (path, None)
    assert resolve_gguf("bartowski/SmolLM2-360M-Instruct-GGUF:*Q4_K_M.gguf") == (
        "bartowski/SmolLM2-360M-Instruct-GGUF",
        "*Q4_K_M.gguf",
    )
    with pytest.raises(ModelError) as e:
        resolve_gguf(str(tmp_path / "missing.gguf"))
    assert str(e.value) == (
        f"LLM '{tmp_path / 'missing.gguf'}' is not a .gguf file here (expected a path to a .gguf "
        "file, 'smollm2-135m' for the packaged default, or 'org/repo:file.gguf' to download when "
        "online)"
    )
