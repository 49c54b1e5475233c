from pathlib import Path

from ar_perception.cli import nodes_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_node_reference_is_generated_from_the_schemas():
    text = README.read_text()
    block = text.split("<!-- nodes:begin -->\n", 1)[1].split("<!-- nodes:end -->", 1)[0]
    assert block == nodes_markdown(), "README node reference is stale: regenerate with `arp nodes --markdown`"


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    assert "make test" in (README.parent / ".ci" / "run").read_text()
