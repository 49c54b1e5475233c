"""The LLM question parser: its grammar, the checks that send it back to the rule parser, the check of
LLM-phrased answers, and the real packaged LLM under the grammar (where it is installed)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest

from ar_perception.qa.llm import LlmParser, check_phrasing, llm_schema
from ar_perception.qa.parse import mentioned_classes, parse_question, question_nouns
from ar_perception.qa.query import INTENTS, Query

CLASSES = ["floor", "wall", "ceiling", "table", "chair", "box", "ball", "shelf", "lamp", "plant", "person"]


class FakeLlm:
    """Answers every chat with `reply`; records what it was asked."""

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    def create_chat_completion(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(kw)
        if isinstance(self.reply, Exception):
            raise self.reply
        return {"choices": [{"message": {"content": self.reply}}]}


class SchemaParser(LlmParser):
    """The fake needs no llama_cpp: it gets the JSON schema where a Llama gets the grammar made from it."""

    grammar = staticmethod(llm_schema)


def parsed(reply: str, text: str, classes: list[str] = CLASSES, **kw: Any) -> Any:
    return SchemaParser(FakeLlm(reply), **kw).parse_with_source(text, classes)


# -- the schema the grammar is made from -----------------------------------------------------------------------------
def test_the_schema_lists_only_known_intents_classes_and_the_questions_own_nouns() -> None:
    schema = llm_schema(["chair", "table"], ["car"])
    props = schema["properties"]
    assert props["intent"]["enum"] == list(INTENTS)
    for field in ("subject", "other", "third"):
        assert props[field]["anyOf"][0]["enum"] == ["chair", "table"]
    assert props["unknown"]["items"]["enum"] == ["car"]
    assert schema["required"] == ["intent"]
    assert "unknown" not in llm_schema(["chair"], [])["properties"]  # nothing unknown can be written


def test_the_llm_is_asked_under_the_schema_with_the_questions_nouns() -> None:
    llm = FakeLlm('{"intent":"exists","unknown":["car"]}')
    SchemaParser(llm).parse("Is there a red car?", CLASSES)
    (call,) = llm.calls
    assert call["grammar"] == llm_schema(CLASSES, ["car"])
    assert call["temperature"] == 0.0
    assert call["messages"][-1] == {"role": "user", "content": "is there a red car"}  # as parse_question reads it
    # few-shot examples name only known classes, and show an unknown thing going to `unknown`
    shots = [json.loads(m["content"]) for m in call["messages"] if m["role"] == "assistant"]
    assert all(set(Query.model_validate(s).classes()) <= set(CLASSES) for s in shots)
    assert any(s.get("unknown") for s in shots)


# -- what is used, and when the rule parser is used instead ------------------------------------------------------------
def test_a_valid_query_is_used() -> None:
    p = parsed('{"intent":"count","subject":"chair"}', "how many seats can you spot")
    assert (p.source, p.query) == ("llm", Query(intent="count", subject="chair"))


def test_a_colour_and_a_number_the_question_says_are_kept() -> None:
    p = parsed('{"intent":"exists","subject":"chair","colour":"grey","number":2}', "are there two gray seats")
    assert (p.source, p.query) == ("llm", Query(intent="exists", subject="chair", colour="grey", number=2))


def test_fields_the_intent_does_not_use_are_cleared() -> None:
    reply = (
        '{"intent":"count","subject":"chair","relation":"next_to","other":"chair","third":"chair","attribute":"size"}'
    )
    p = parsed(reply, "how many chairs are there")
    assert (p.source, p.query) == ("llm", Query(intent="count", subject="chair"))


@pytest.mark.parametrize(
    "reply,text,why",
    [
        ('{"intent":"exists","subject":"chair"}', "Is there a car?", "does not mention"),  # car -> chair: never
        ('{"intent":"exists"}', "Is there a car?", "drops 'car'"),
        ('{"intent":"exists","subject":"chair","unknown":["chair"]}', "is there a chair", "not a noun"),
        ('{"intent":"unsupported"}', "how far is the lamp", "found no intent"),
        ('{"intent":"count"}', "how many chairs are there", "drops 'chair'"),
        # a comparison: an LLM guess that is no nearer / farther relation must not answer another question instead
        ('{"intent":"behind"}', "Is the person farther away than the table?", "compares two things"),
        ('{"intent":"relation","relation":"behind","other":"table"}', "is the chair nearer than the table", "compares"),
        ('{"intent":"behind"}', "what about the chair and the lamp", "drops 'chair'"),
        ('{"intent":"relation","other":"table"}', "what is on the table", "without a relation"),
        ('{"intent":"relation","relation":"between","other":"chair"}', "what is between the chair and the lamp", "two"),
        # a colour or number the question never said would filter the answer by it: never
        ('{"intent":"exists","subject":"chair","colour":"red"}', "is there a chair", "colour 'red'"),
        ('{"intent":"exists","subject":"chair","number":2}', "is there a chair", "number 2"),
        ('{"intent":"exists","subject":"chair"', "is there a chair", "no valid Query"),
        ('{"intent":"hover"}', "is there a chair", "no valid Query"),
        ('{"intent":"exists","shade":"red"}', "is there a chair", "no valid Query"),
        (RuntimeError("llama_decode returned -1"), "is there a chair", "the LLM failed"),
    ],
)
def test_a_query_that_fails_a_check_falls_back_to_the_rules(
    reply: str | Exception, text: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="ar_perception.qa.llm"):
        p = SchemaParser(FakeLlm(reply)).parse_with_source(text, CLASSES)
    assert p.source == "rules"
    assert p.query == parse_question(text, CLASSES)
    assert why in (p.reason or "")
    assert any("rule parser" in r.message and why in r.message for r in caplog.records)


def test_a_class_named_by_a_synonym_counts_as_mentioned() -> None:
    p = parsed('{"intent":"where","subject":"table"}', "where is my desk")
    assert (p.source, p.query) == ("llm", Query(intent="where", subject="table"))


def test_prefer_rules_asks_the_llm_only_where_the_rules_have_no_form() -> None:
    llm = FakeLlm('{"intent":"list"}')
    parser = SchemaParser(llm, prefer="rules")
    assert parser.parse("how many chairs are there", CLASSES) == Query(intent="count", subject="chair")
    assert llm.calls == []
    p = parser.parse_with_source("anything interesting going on", CLASSES)
    assert (p.source, p.query, len(llm.calls)) == ("llm", Query(intent="list"), 1)


# -- checking an LLM-phrased answer --------------------------------------------------------------------------------
PALETTE = ["black", "grey", "white", "red", "blue", "light blue", "green", "brown"]


def check(text: str, classes: list[str], numbers: list[float], colours: list[str]) -> list[str]:
    return check_phrasing(text, classes, numbers, colours, CLASSES, PALETTE)


def test_an_answer_that_keeps_to_the_facts_passes() -> None:
    assert (
        check("There are two chairs; the nearest is 1.5 metres away, and it is red.", ["chair"], [2, 1.5], ["red"])
        == []
    )
    assert check("I see 3 people and a desk.", ["person", "table"], [3], []) == []
    assert check("The box is light blue.", ["box"], [], ["light blue"]) == []  # a colour, not a lamp


@pytest.mark.parametrize(
    "text,problem",
    [
        ("There is a chair and a lamp.", "'lamp'"),
        ("There are two lamps.", "'lamp'"),  # plural
        ("There is a desk.", "'table'"),  # synonym
        ("I can see some people.", "'person'"),
        ("There are three chairs.", "number three"),
        ("There are 3 chairs.", "number 3"),
        ("The chair is 2 metres away.", "number 2"),  # 1.6 is not 2
        ("The chair is 1.7 metres away.", "number 1.7"),
        ("There are twenty one chairs.", "number twenty one"),
        ("The chair is blue.", "colour 'blue'"),
        ("The chair is light blue.", "colour 'light blue'"),
        ("The chair is purple.", "colour 'purple'"),  # a colour word outside the palette is still a colour
        ("The chair is gray.", "colour 'grey'"),
    ],
)
def test_an_answer_that_states_more_than_the_facts_fails(text: str, problem: str) -> None:
    problems = check(text, ["chair"], [2 if "twenty" in text else 1, 1.62], ["red"])
    assert any(problem in p for p in problems), problems


def test_numbers_match_to_the_precision_written() -> None:
    assert check("It is 1.6 metres away.", ["chair"], [1.62], []) == []
    assert check("It is 1.62 metres away.", ["chair"], [1.62], []) == []
    assert check("It is 2 metres away.", ["chair"], [2.0], []) == []
    assert check("It is 2 metres away.", ["chair"], [1.62], []) != []


# -- the real packaged LLM -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llm() -> Any:
    llama_cpp = pytest.importorskip("llama_cpp")
    from ar_perception.errors import ModelError
    from ar_perception.nodes.vqa import PACKAGED_LLM, resolve_gguf

    try:
        path, _ = resolve_gguf(PACKAGED_LLM)
    except ModelError as e:
        pytest.skip(str(e))
    threads = max(1, (os.cpu_count() or 2) - 1)
    return llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads, seed=0, verbose=False)


# questions about things the vocabulary below lacks (chair, wall, person, car, sofa...), and some it has
OUT_OF_VOCABULARY = [
    "Is there a chair?",
    "How many chairs are there?",
    "how far is the wall",
    "What colour is the car?",
    "Where is the sofa?",
    "Is there a cable next to the table?",
    "Which chair is closest?",
    "how tall is the bookcase",
    "What is between the chair and the person?",
    "How many lamps do you see?",
    "Is there a ball behind me?",
]
SMALL_VOCABULARY = ["table", "lamp", "box"]


@pytest.mark.slow
def test_the_real_llm_never_names_a_class_outside_the_vocabulary(llm: Any) -> None:
    parser = LlmParser(llm)
    for text in OUT_OF_VOCABULARY:
        p = parser.parse_with_source(text, SMALL_VOCABULARY)
        assert p.llm_query is not None, f"{text!r}: the grammar should always give valid JSON ({p.reason})"
        assert set(p.llm_query.classes()) <= set(SMALL_VOCABULARY), (text, p.llm_query)
        assert set(p.llm_query.unknown) <= set(question_nouns(text, SMALL_VOCABULARY)) | set(
            parse_question(text, SMALL_VOCABULARY).unknown
        ), (text, p.llm_query)
        # what is used names only classes the question names: "chair" never becomes "table"
        assert set(p.query.classes()) <= set(mentioned_classes(text, SMALL_VOCABULARY)), (text, p)


# questions close to the few-shot examples (asked here as a user types them)
CLEAR = [
    "What colour is the chair?",
    "Describe the room.",
    "Where is the box?",
    "What do you see?",
    "How far away is the person?",
    "What is behind me?",
    "what colour is the ball?",
]


@pytest.mark.slow
def test_the_real_llm_agrees_with_the_rules_on_clear_questions(llm: Any) -> None:
    parser = LlmParser(llm)
    agree = [t for t in CLEAR if parser.parse_with_source(t, CLASSES).llm_query == parse_question(t, CLASSES)]
    # The packaged 135M model is weak: it got 4-5 of these 7 here, and greedy decoding may flip a close call on
    # another CPU. A broken prompt, grammar or parser gets none or one.
    assert len(agree) >= 3, f"the LLM agreed with the rules only on {agree}"
