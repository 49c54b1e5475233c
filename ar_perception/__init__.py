"""ar-perception: prototype AR perception graphs over ZeroMQ around one shared EUPE encoder.

Each name is imported on first use, so `from ar_perception import Node` costs neither the supervisor
(psutil, ZeroMQ) nor the graph loader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ar_perception.graph.load import load_graph
    from ar_perception.runtime.launch import run_graph
    from ar_perception.runtime.msg import Msg
    from ar_perception.runtime.node import Node

__all__ = ["Node", "Msg", "load_graph", "run_graph"]

_HOMES = {
    "Node": "ar_perception.runtime.node",
    "Msg": "ar_perception.runtime.msg",
    "load_graph": "ar_perception.graph.load",
    "run_graph": "ar_perception.runtime.launch",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one version: the installed distribution's, from pyproject.toml
        from importlib.metadata import version

        return version("ar-perception")
    if name not in _HOMES:
        raise AttributeError(f"module 'ar_perception' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups find it without calling this again
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
