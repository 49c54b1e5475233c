"""Graph validation: every class of bad input gives its exact one-line message."""

import pytest

from ar_perception.errors import GraphError
from ar_perception.graph.load import parse_graph
from ar_perception.nodes.pattern import Pattern

GOOD = """
nodes:
  - id: cam
    node: pattern
    params: {fps: 10, frames: 3}
  - id: inv
    node: invert
    inputs: {image: cam/image}
  - id: out
    node: sink
    inputs: {in: {source: inv/image, queue: reliable}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(GraphError) as e:
        parse_graph(text, "g.yaml")
    return e.value.problems


def test_good_graph_resolves_wires_and_queues():
    g = parse_graph(GOOD, "g.yaml")
    assert [w.source for w in g.wires] == ["cam/image", "inv/image"]
    assert g.node("out").inputs["in"].queue.policy == "reliable"
    assert g.node("inv").inputs["image"].queue.policy == "latest"
    assert g.sources == ["cam"]


def test_yaml_syntax_error_has_line_and_column():
    (p,) = problems("nodes:\n  - id: cam\n    node: [pattern\n")
    assert p.startswith("g.yaml:4:1: YAML syntax error")


def test_unknown_key_suggests_nearest():
    (p,) = problems(GOOD.replace("params: {fps: 10, frames: 3}", "parms: {fps: 10}"))
    assert p == (
        "g.yaml: nodes[0] (cam): unknown key 'parms' (expected one of: id, node, params, inputs, outputs, sync, "
        "restart, on_error, transport, host, port, placement, health_timeout, nice; did you mean 'params'?)"
    )


def test_unknown_node_type_suggests_nearest():
    (p,) = problems(GOOD.replace("node: invert", "node: invrt"))
    assert p == (
        "g.yaml: nodes[1] (inv).node: unknown node type 'invrt' (expected a built-in name or "
        "'module:Class'; did you mean 'invert'?)"
    )


def test_unknown_parameter_and_mistyped_parameter():
    ps = problems(GOOD.replace("{fps: 10, frames: 3}", "{fsp: 10, frames: many}"))
    assert ps == [
        "g.yaml: nodes[0] (cam).params.frames: Input should be a valid integer, unable to parse string as an "
        "integer (got 'many')",
        "g.yaml: nodes[0] (cam).params.fsp: unknown parameter (expected one of: fps, size, frames; "
        "did you mean 'fps'?)",
    ]


def test_dangling_source_and_misspelled_output():
    ps = problems(GOOD.replace("cam/image", "cma/image").replace("inv/image", "inv/imag"))
    assert ps == [
        "g.yaml: nodes[1] (inv).inputs.image: reads 'cma/image', but there is no node 'cma' "
        "(expected one of: cam, inv, out; did you mean 'cam'?)",
        "g.yaml: nodes[2] (out).inputs.in: reads 'inv/imag', but node 'inv' has no output 'imag' "
        "(it has: image; did you mean 'image'?)",
    ]


def test_unknown_input_port():
    (p,) = problems(GOOD.replace("inputs: {image: cam/image}", "inputs: {img: cam/image}"))
    assert p == (
        "g.yaml: nodes[1] (inv).inputs.img: 'invert' has no input 'img' (expected one of: image; did you mean 'image'?)"
    )


def test_duplicate_ids():
    ps = problems(GOOD.replace("id: out", "id: inv"))
    assert "g.yaml: nodes[2] (inv).id: duplicate id 'inv' (expected unique ids)" in ps


def test_cycle():
    text = """
nodes:
  - {id: a, node: invert, inputs: {image: b/image}}
  - {id: b, node: invert, inputs: {image: a/image}}
"""
    assert problems(text) == ["g.yaml: nodes: cycle a -> b -> a (expected an acyclic graph)"]


def test_kind_mismatch():
    text = """
nodes:
  - {id: t, node: sink, inputs: {in: timer/hz/10}}
  - {id: inv, node: invert, inputs: {image: timer/hz/5}}
"""
    assert problems(text) == ["g.yaml: nodes[1] (inv).inputs.image: a timer gives Tick, but 'image' takes Image"]


def test_kind_mismatch_between_nodes(tmp_path):
    (tmp_path / "kinds_plugin.py").write_text(
        "from ar_perception import Node\nclass Talk(Node):\n    outputs = {'text': 'Text'}\n"
    )
    text = """
nodes:
  - {id: talk, node: "kinds_plugin:Talk"}
  - {id: inv, node: invert, inputs: {image: talk/text}}
"""
    with pytest.raises(GraphError) as e:
        parse_graph(text, "g.yaml", search_paths=[str(tmp_path)])
    assert e.value.problems == [
        "g.yaml: nodes[1] (inv).inputs.image: kind mismatch: 'talk/text' gives Text, "
        "but 'image' takes Image (expected Image, got Text)"
    ]


def test_plugin_that_does_not_import(tmp_path):
    (tmp_path / "broken_plugin.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(GraphError) as e:
        parse_graph("nodes:\n  - {id: x, node: 'broken_plugin:X'}\n", "g.yaml", search_paths=[str(tmp_path)])
    (p,) = e.value.problems
    assert p.startswith(
        "g.yaml: nodes[0] (x).node: cannot import module 'broken_plugin' for node "
        "'broken_plugin:X': No module named 'not_a_module_anywhere'"
    )


def test_bad_timer_and_bad_queue():
    text = """
nodes:
  - {id: t, node: sink, inputs: {in: {source: timer/hz/fast}}}
  - {id: u, node: sink, inputs: {in: {source: t/x, queue: lifo}}}
"""
    ps = problems(text)
    assert ps[0] == (
        "g.yaml: nodes[0] (t).inputs.in.source: timer source must be "
        "timer/hz/RATE or timer/ms/PERIOD (got 'timer/hz/fast')"
    )
    assert ps[1].startswith(
        "g.yaml: nodes[1] (u).inputs.in.queue.policy: Input should be 'latest', 'fifo' or 'reliable' (got 'lifo')"
    )


def test_queue_short_forms():
    g = parse_graph(
        """
nodes:
  - {id: cam, node: pattern}
  - id: a
    node: sink
    inputs: {in: {source: cam/image, queue: {fifo: 5}}}
  - id: b
    node: sink
    inputs: {in: {source: cam/image, queue: "fifo:3"}}
""",
        "g.yaml",
    )
    assert g.node("a").inputs["in"].queue.size == 5
    assert g.node("b").inputs["in"].queue.size == 3


def test_env_substitution_and_overrides(monkeypatch):
    monkeypatch.setenv("ARP_TEST_FPS", "25")
    g = parse_graph(GOOD.replace("fps: 10", "fps: '${env:ARP_TEST_FPS,5}'"), "g.yaml", sets=["cam.frames=7"])
    cam = g.params["cam"]
    assert isinstance(cam, Pattern.Params) and cam.fps == 25.0 and cam.frames == 7
    with pytest.raises(GraphError) as e:
        parse_graph(GOOD, "g.yaml", sets=["cma.fps=3"])
    assert e.value.problems == ["g.yaml: --set 'cma.fps=3': no node 'cma'; did you mean 'cam'?"]


def test_sync_needs_trigger():
    text = """
nodes:
  - {id: cam, node: pattern}
  - id: s
    node: "faulty:HangOnStop"
    inputs: {in: cam/image}
    sync: {mode: latest}
"""
    from pathlib import Path

    with pytest.raises(GraphError) as e:
        parse_graph(text, "g.yaml", search_paths=[str(Path(__file__).parents[1] / "runtime")])
    assert e.value.problems == [
        "g.yaml: nodes[1] (s).sync: sync needs at least 2 inputs (got 1)",
        "g.yaml: nodes[1] (s).sync.trigger: sync 'latest' needs a trigger input (expected one of: in; got None)",
    ]
