"""`arp transcribe` and `arp ask`."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ar_perception.cli import app
from ar_perception.qa.query import Query
from ar_perception.voice import word_error_rate

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "recordings" / "sample.mcap"
runner = CliRunner()


def test_transcribe_json(librivox):
    path, ref = librivox["sense_and_sensibility_01_austen_64kb-0930"]
    r = runner.invoke(app, ["transcribe", str(path), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert set(rows[0]) == {"text", "start", "end", "confidence"}
    assert word_error_rate(ref, " ".join(x["text"] for x in rows))[0] <= 1


def test_transcribe_text(librivox):
    path, _ = librivox["sense_and_sensibility_01_austen_64kb-0930"]
    r = runner.invoke(app, ["transcribe", str(path)])
    assert r.exit_code == 0 and r.stdout.startswith("[") and "amiable" in r.stdout


def test_ask_offline_about_a_simulated_scene():
    r = runner.invoke(app, ["ask", "--sim", "3", "What is nearest?", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["intent"] == "nearest" and out["text"].startswith("The nearest object is a chair, 1.4 metres away")
    # --json shows the parsed query and the facts the answer rests on
    assert out["query"] == Query(intent="nearest").model_dump() and out["parser"] == "rules"
    assert out["facts"] == ["A chair is 1.4 metres away, ahead."] and out["objects"] == ["chair 1"]
    assert out["grounded"] is True and out["phrasing"] == "deterministic" and out["at_s"] == 0.0


@pytest.mark.slow
def test_ask_a_spoken_question_about_a_recording(speak):
    r = runner.invoke(
        app, ["ask", "--recording", str(SAMPLE), "--at", "3", "--wav", str(speak("how far is the table")), "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["question"] == "How far is the table?" and out["intent"] == "distance" and out["at_s"] == 3.0
    assert out["query"]["subject"] == "table" and out["text"] == "The table is 2.8 metres away on the right."


def test_a_misheard_word_is_not_taken_for_a_class():
    # tiny.en hears espeak's "is there a chair" as "Is there a care?": a word that only sounds like a class
    r = runner.invoke(app, ["ask", "--recording", str(SAMPLE), "--at", "3", "Is there a care?", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["text"].startswith("I can't recognise cares.") and out["query"]["unknown"] == ["care"]


def test_ask_errors(tmp_path):
    r = runner.invoke(app, ["ask"])
    assert r.exit_code == 1 and r.output.strip() == (
        "no question: give it as text, as --wav FILE, or give --recording to answer the questions spoken in it"
    )
    r = runner.invoke(
        app, ["ask", "hello", "--endpoint", f"ipc://{tmp_path}/none", "--answers", f"ipc://{tmp_path}/none2"]
    )
    assert r.exit_code == 1
    assert r.output.splitlines()[-1] == (
        f"no running graph takes questions at ipc://{tmp_path}/none: start one with "
        "`ask` and `ask_reply` nodes (arp run graphs/ask.yaml), or answer offline "
        "with --recording or --sim"
    )
    r = runner.invoke(app, ["ask", "--recording", str(tmp_path / "nope.mcap"), "hi"])
    assert r.exit_code == 1 and "nope.mcap: no such recording" in r.output
