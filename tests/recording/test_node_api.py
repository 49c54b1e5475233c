"""The Node API hooks the recorder and the replay need: wildcard inputs, outputs from parameters, reliable-only
inputs. Tested on toy nodes, so that the hooks stay usable by any node."""

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

import ar_perception.recording
from ar_perception import Msg, Node
from ar_perception.errors import GraphError, NodeError
from ar_perception.graph.load import parse_graph
from ar_perception.runtime.harness import run_node, run_source


class AnyImages(Node):
    """Takes images on any input name."""

    inputs = {"*": "Image"}
    outputs = {"n": "Tick"}

    def on_input(self, name, msg):
        return {"n": msg.derive("Tick", {"tick": 0, "from": name})}


class Echo(Node):
    """Outputs named by its parameters."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        names: list[str] = ["a"]

    params: Params

    @classmethod
    def output_kinds_for(cls, params):
        return {n: "Image" for n in params.names}

    def produce(self):
        for n in self.params.names:
            yield {n: Msg("Image", {"data": np.zeros((2, 2, 3), np.uint8)})}


class Strict(Node):
    inputs = ("in",)
    reliable_inputs = True


def g(text):
    return parse_graph(text, "g.yaml", search_paths=[__file__.rsplit("/", 1)[0] + "/../.."])


M = "tests.recording.test_node_api"


def test_wildcard_inputs_take_any_name_but_check_the_kind():
    g(f"""
nodes:
  - {{id: cam, node: pattern}}
  - {{id: x, node: "{M}:AnyImages", inputs: {{left: cam/image, right: cam/image}}}}
""")
    with pytest.raises(GraphError, match=r"nodes\[0\] \(x\).inputs.t: a timer gives Tick, but 't' takes Image"):
        g(f'nodes:\n  - {{id: x, node: "{M}:AnyImages", inputs: {{t: timer/hz/1}}}}\n')
    ((_, out),) = run_node(AnyImages, [("whatever", Msg("Image", {"data": np.zeros((1, 1, 3), np.uint8)}))])
    assert out.meta["from"] == "whatever"
    with pytest.raises(NodeError, match="takes Image, got a Text message"):
        run_node(AnyImages, [("x", Msg("Text", meta={"text": "hi"}))])


def test_outputs_from_parameters():
    graph = g(f"""
nodes:
  - {{id: e, node: "{M}:Echo", params: {{names: [p, q]}}}}
  - {{id: inv, node: invert, inputs: {{image: e/q}}}}
""")
    assert graph.outputs["e"] == ["p", "q"] and graph.output_kinds["e"] == {"p": "Image", "q": "Image"}
    with pytest.raises(
        GraphError,
        match=r"nodes\[1\] \(inv\).inputs.image: reads 'e/r', but node 'e' has no output "
        r"'r' \(it has: p, q",
    ):
        g(
            f'nodes:\n  - {{id: e, node: "{M}:Echo", params: {{names: [p, q]}}}}\n'
            "  - {id: inv, node: invert, inputs: {image: e/r}}\n"
        )
    assert [o for o, _ in run_source(Echo, {"names": ["p", "q"]})] == ["p", "q"]


def test_reliable_only_inputs():
    with pytest.raises(
        GraphError,
        match=r"nodes\[1\] \(s\).inputs.in: '.*:Strict' must never drop, so its inputs "
        r"need queue: reliable \(got fifo\)",
    ):
        g(
            f"nodes:\n  - {{id: cam, node: pattern}}\n"
            f'  - {{id: s, node: "{M}:Strict", inputs: {{in: {{source: cam/image, queue: fifo:4}}}}}}\n'
        )


def test_recording_api_is_pinned():
    assert ar_perception.recording.__all__ == [
        "FORMAT_VERSION",
        "RecordingWriter",
        "RecordingReader",
        "TopicInfo",
        "repair",
        "RepairResult",
        "export_topic",
        "ExportResult",
    ]
