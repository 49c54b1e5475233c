"""The vqa node: a question parsed into a Query (rules, or the real packaged LLM under its grammar where it is
installed), answered from the scene node's scene model, streamed word by word; refusals, busy policies, timing,
and LLM phrasing kept to the facts."""

import time
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from ar_perception.errors import ModelError, NodeError
from ar_perception.nodes.scene import Scene
from ar_perception.nodes.vqa import NO_SCENE, PACKAGED_LLM, Vqa, resolve_gguf, stated
from ar_perception.qa.answer import answer
from ar_perception.qa.colour import PALETTE
from ar_perception.qa.llm import check_phrasing
from ar_perception.qa.model import SceneModel
from ar_perception.qa.parse import mentioned_classes
from ar_perception.qa.query import Query
from ar_perception.runtime.harness import NodeHarness, run_node
from ar_perception.runtime.msg import Msg

from .test_scene import CAMERA, CLASSES, room

# camera-to-world of a level camera 1.5 m up, facing world +y (world z is up): columns right, down, forward
LEVEL = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 1.5], [0.0, 0.0, 0.0, 1.0]])


def see(h: NodeHarness, t_s: float, labels: np.ndarray, depth: np.ndarray, image: np.ndarray) -> Msg:
    """One frame (camera with a level pose, image, mask, depth) through a scene node; its facts."""
    t = int(t_s * 1e9)
    h.feed("camera", Msg(kind="CameraInfo", arrays={"pose": LEVEL}, meta=CAMERA, capture_ns=t))
    h.feed("image", Msg(kind="Image", arrays={"data": image}, capture_ns=t))
    h.feed("mask", Msg(kind="Mask", arrays={"data": labels}, meta={"classes": CLASSES}, capture_ns=t))
    ((_, facts),) = h.feed("depth", Msg(kind="Depth", arrays={"data": depth}, capture_ns=t))
    return facts


@pytest.fixture(scope="module")
def facts() -> Msg:
    """test_scene's room seen at 1 s, then at 3 s with the person gone from view (so it is remembered): chair 1
    (1.2 m, left) red, the table (2.3 m, ahead) brown, chair 2 (4.0 m, right) white like the rest of the image."""
    labels, depth = room()
    image = np.full((240, 320, 3), 240, np.uint8)
    image[150:230, 20:80] = (200, 30, 30)
    image[130:180, 130:190] = (110, 65, 30)
    h = NodeHarness(Scene)
    see(h, 1.0, labels, depth, image)
    labels[60:200, 250:290], depth[60:200, 250:290] = 2, 5.0  # the person has left the view: wall behind
    return see(h, 3.0, labels, depth, image)


@pytest.fixture(scope="module")
def model(facts: Msg) -> SceneModel:
    return SceneModel.from_dict(facts.meta["model"])


def q(text: str, **meta: Any) -> Msg:
    return Msg(kind="Text", meta={"text": text, **meta})


def ask(h: NodeHarness, text: str, **meta: Any) -> list[dict[str, Any]]:
    out = h.feed("question", q(text, **meta))
    assert out and all(name == "answer" and m.kind == "Answer" for name, m in out)
    return [dict(m.meta) for _, m in out]


def llm_or_skip() -> None:
    pytest.importorskip("llama_cpp")
    try:
        resolve_gguf(PACKAGED_LLM)
    except ModelError as e:
        pytest.skip(str(e))


# each intent: a question, its intent, and what its answer must say (and must not) about the scene above
INTENTS = [
    ("Is there a table?", "exists", ["Yes", "table", "2.3 metres"], []),
    ("How many chairs are there?", "count", ["two chairs"], []),
    ("How far is the table?", "distance", ["table", "2.3 metres"], []),
    ("How far is the wall?", "distance", ["wall", "5 metres"], []),  # structure classes can be asked about
    ("Where is the table?", "where", ["table", "ahead"], []),
    ("What is nearest?", "nearest", ["chair", "1.2 metres", "left"], ["table"]),
    ("What colour is the chair?", "colour", ["red", "white"], ["brown"]),
    ("How tall is the table?", "size", ["table", "50 centimetres tall"], []),
    ("What is left of the table?", "relation", ["chair"], ["person"]),
    ("What do you see?", "list", ["two chairs", "table"], ["person"]),  # the person is out of view now
    ("Describe the room.", "describe", ["two chairs", "remember a person"], []),
    ("Where did you last see the person?", "last_seen", ["2 seconds ago"], []),
    ("What is behind me?", "behind", ["behind you"], ["chair"]),
    ("What time is it?", "unsupported", ["can't answer"], []),
]


def test_each_intent_is_answered_from_the_scene_model(model, facts):
    h = NodeHarness(Vqa, {"parser": "rules"}, node_id="vqa")
    h.feed("scene", facts)
    for text, intent, says, never in INTENTS:
        final = ask(h, text)[-1]
        query = Query(**final["query"])
        assert (final["intent"], query.intent, final["parser"]) == (intent, intent, "rules"), (text, final)
        expected = answer(query, model)
        assert (final["text"], final["facts"], final["objects"]) == (expected.text, expected.facts, expected.objects)
        for word in says:
            assert word in final["text"], (text, final["text"])
        for word in never:
            assert word not in final["text"], (text, final["text"])
        assert final["done"] and final["phrasing"] == "deterministic" and not final["interrupted"]


@pytest.mark.slow
def test_each_intent_through_the_real_llm_parser(model, facts):
    llm_or_skip()
    h = NodeHarness(Vqa, {"parser": "llm"}, node_id="vqa")
    try:
        h.feed("scene", facts)  # reads the parser's prompt for these classes (warm)
        sources = []
        for text, *_ in INTENTS:
            final = ask(h, text)[-1]
            query = Query(**final["query"])
            sources.append(final["parser"])
            # whatever it parsed names only classes the question names, and is answered as computed from the model
            assert set(query.classes()) <= set(mentioned_classes(text, model.classes)), (text, query)
            assert final["text"] == answer(query, model).text and final["intent"] == query.intent
        # the LLM's own query was used for some (the rules stand in where a check refused it)
        assert "llm" in sources, sources
    finally:
        h.close()


@pytest.mark.parametrize("parser", ["rules", "auto", pytest.param("llm", marks=pytest.mark.slow)])
def test_a_word_for_no_known_class_is_refused_never_mapped(facts, parser):
    if parser == "llm":
        llm_or_skip()
    h = NodeHarness(Vqa, {"parser": parser}, node_id="vqa")
    try:
        h.feed("scene", facts)
        # "care" looks and sounds like "chair" (what Whisper hears for espeak's "chair"): still not a chair
        for text, word in (("Is there a car?", "cars"), ("how far is the care", "cares")):
            final = ask(h, text)[-1]
            assert final["text"].startswith(f"I can't recognise {word}."), final["text"]
            assert "I can see two chairs and a table." in final["text"]  # what it can see instead, no more
            assert final["grounded"] is False and final["query"]["subject"] is None
            assert word[:-1] in final["query"]["unknown"]
    finally:
        h.close()


def test_the_answer_streams_word_by_word_and_ends_done(vqa, facts):
    vqa.feed("scene", facts)
    metas = ask(vqa, "Describe the room.", id="q1")
    texts = [m["text"] for m in metas]
    assert len(metas) >= 10 and [m["done"] for m in metas] == [False] * (len(metas) - 1) + [True]
    assert all(b.startswith(a) and len(b) > len(a) for a, b in pairwise(texts[:-1]))  # growing, a word at a time
    assert texts[-1] == texts[-2] and [m["tokens"] for m in metas[:-1]] == list(range(1, len(metas)))
    final = metas[-1]
    assert final["tokens"] == len(final["text"].split()) and final["tokens_per_s"] > 0
    assert final["question"] == "Describe the room." and final["question_id"] == "q1"
    assert final["query"] == Query(intent="describe").model_dump() and final["facts"]
    assert all(m["first_token_s"] == metas[0]["first_token_s"] for m in metas)
    assert 0 <= final["first_token_s"] <= final["latency_s"]
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
    assert final["done"] and out[-1][1].clock_offset_ns == hour and final["text"] == "No, I don't see a lamp."
    assert 0 <= final["first_token_s"] <= final["latency_s"] <= waited + 1e-4  # 1e-4: the figures are rounded


def test_the_same_question_gets_the_same_answer(vqa, facts):
    vqa.feed("scene", facts)
    asked = ("What colour is the table?", "Is there a lamp?")
    a = [ask(vqa, text)[-1]["text"] for text in asked]
    b = [ask(vqa, text)[-1]["text"] for text in asked]
    assert a == b == ["The table is brown.", "No, I don't see a lamp."]


def test_busy_queue_answers_both_in_turn(vqa, facts):
    vqa.feed("scene", facts)
    vqa.node.params.on_busy = "queue"
    out = vqa.feed_all([("question", q("How far is the table?", id="a")), ("question", q("Is there a chair?", id="b"))])
    finals = [m.meta for _, m in out if m.meta["done"]]
    assert [(f["question_id"], f["interrupted"]) for f in finals] == [("a", False), ("b", False)]
    assert "2.3 metres" in finals[0]["text"] and finals[1]["text"].startswith("Yes")


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
    assert finals[0]["tokens"] == 1 and finals[0]["text"] == "I"  # it stopped at the first word: "b" was waiting
    assert finals[1]["text"].startswith("Yes")


def test_no_scene_yet_is_said_and_a_scene_without_a_model_is_refused(facts):
    h = NodeHarness(Vqa, {"parser": "rules"}, node_id="vqa")
    final = ask(h, "Is there a chair?")[-1]
    assert final["text"] == NO_SCENE == "I have no view of the scene yet."
    assert (final["intent"], final["query"], final["facts"], final["grounded"]) == ("none", None, [], False)
    bare = Msg(kind="Text", meta={k: v for k, v in facts.meta.items() if k != "model"}, topic="scene/facts")
    with pytest.raises(NodeError, match="the scene message from 'scene/facts' has no scene model"):
        h.feed("scene", bare)


def test_unsure_speech_is_not_a_question(facts):
    out = run_node(Vqa, [("scene", facts), ("question", q("how far is the table", confidence=0.2))], {"min_score": 0.5})
    assert out == []


def test_auto_without_an_llm_parses_by_rules_and_llm_needs_one(monkeypatch, facts, tmp_path):
    monkeypatch.setattr(Vqa, "_llm_installed", lambda self: False)
    h = NodeHarness(Vqa, {}, node_id="vqa")  # parser: auto
    assert h.node.llm is None and h.node.parser is None
    h.feed("scene", facts)
    assert ask(h, "How far is the table?")[-1]["text"] == "The table is 2.3 metres away, ahead."
    with pytest.raises(ModelError, match="is not a .gguf file here"):
        NodeHarness(Vqa, {"parser": "llm", "model": str(tmp_path / "missing.gguf")})


# -- LLM phrasing ------------------------------------------------------------------------------------------------
class FakeLlm:
    """Says `reply` to every chat; counts the chats."""

    def __init__(self, reply: str):
        self.reply, self.calls = reply, 0

    def create_chat_completion(self, **kw: Any) -> dict[str, Any]:
        self.calls += 1
        return {"choices": [{"message": {"content": self.reply}}]}


def phrasing_node(monkeypatch, facts, reply: str) -> tuple[NodeHarness, FakeLlm]:
    fake = FakeLlm(reply)
    monkeypatch.setattr(Vqa, "_load_llm", lambda self: fake)
    h = NodeHarness(Vqa, {"parser": "rules", "phrasing": "llm"}, node_id="vqa")
    h.feed("scene", facts)
    return h, fake


def test_an_llm_phrasing_that_keeps_to_the_facts_is_said(monkeypatch, facts):
    h, fake = phrasing_node(monkeypatch, facts, "You will find the table 2.3 metres ahead of you.")
    metas = ask(h, "How far is the table?")
    final = metas[-1]
    assert (final["text"], final["phrasing"], final["phrasing_problems"]) == (fake.reply, "llm", [])
    assert len(metas) == len(fake.reply.split()) + 1  # streamed word by word too
    assert final["facts"] == ["The table is 2.3 metres away, ahead."]  # the facts are still the model's


@pytest.mark.parametrize(
    "reply, problem",
    [
        ("The table is 3 metres away, next to a lamp.", "number 3"),  # a number and a class not in the facts
        ("The brown table is 2.3 metres ahead.", "colour 'brown'"),  # true, but not in this answer's facts
        ("The answer is 2.3.", "leaves out the class 'table'"),  # says less than the answer
        ("", "wrote nothing"),
    ],
)
def test_an_llm_phrasing_beyond_the_facts_is_not_said(monkeypatch, facts, reply, problem):
    h, fake = phrasing_node(monkeypatch, facts, reply)
    final = ask(h, "How far is the table?")[-1]
    assert (final["text"], final["phrasing"]) == ("The table is 2.3 metres away, ahead.", "deterministic")
    assert any(problem in p for p in final["phrasing_problems"]), final["phrasing_problems"]
    assert fake.calls == 1


def test_refusals_and_long_answers_are_not_rephrased(monkeypatch, facts, model):
    h, fake = phrasing_node(monkeypatch, facts, "I can see a lamp.")
    refused = ask(h, "Is there a car?")[-1]
    described = ask(h, "Describe the room.")[-1]
    assert fake.calls == 0 and refused["text"].startswith("I can't recognise cars.")
    assert described["text"] == answer(Query(intent="describe"), model).text
    assert described["phrasing_problems"] == ["more than one sentence: said as computed"]


def test_what_an_answer_states():
    classes, numbers, colours = stated("There are two chairs; the nearest, 1.2 metres away, is red.", CLASSES)
    assert (classes, numbers, colours) == (["chair"], [1.2, 2.0], ["red"])
    assert stated("twenty one people, grey or gray", CLASSES) == (["person"], [20.0, 21.0, 1.0], ["grey"])


@pytest.mark.slow
def test_the_real_llm_phrasing_states_nothing_beyond_the_facts(model, facts):
    llm_or_skip()
    h = NodeHarness(Vqa, {"parser": "rules", "phrasing": "llm"}, node_id="vqa")
    try:
        h.feed("scene", facts)
        for text, *_ in INTENTS:
            final = ask(h, text)[-1]
            expected = answer(Query(**final["query"]), model)
            if final["phrasing"] == "deterministic":
                assert final["text"] == expected.text
                continue
            allowed = stated(" ".join([expected.text, *expected.facts]), model.classes)
            named = {o.name: o.cls for o in model.objects}
            classes = [*allowed[0], *(named[n] for n in expected.objects)]
            said = final["text"]
            assert check_phrasing(said, classes, allowed[1], allowed[2], model.classes, PALETTE) == [], said
    finally:
        h.close()


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
