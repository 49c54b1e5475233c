"""ar-perception: prototype AR perception graphs over ZeroMQ around one shared EUPE encoder."""

from ar_perception.graph.load import load_graph
from ar_perception.runtime.launch import run_graph
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node

__all__ = ["Node", "Msg", "load_graph", "run_graph"]
__version__ = "0.1.0"
