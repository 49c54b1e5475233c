"""Where node classes come from: built-in names, `module:Class` references and the plugins folder."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

from ar_perception.ports import NodeType  # what every Node is; the registry sits below the runtime (pyproject layers)

__all__ = ["BUILTINS", "available_builtins", "resolve", "discover_plugins", "NodeRefError"]

# Built-in node names -> "module:Class". Strings, so that nothing heavy is imported to list them.
BUILTINS: dict[str, str] = {
    "pattern": "ar_perception.nodes.pattern:Pattern",
    "invert": "ar_perception.nodes.invert:Invert",
    "sink": "ar_perception.nodes.sink:Sink",
    "camera": "ar_perception.nodes.camera:Camera",
    "sim": "ar_perception.nodes.sim:Sim",
    "rgbd_folder": "ar_perception.nodes.rgbd_folder:RgbdFolderSource",
    "realsense": "ar_perception.nodes.realsense:RealSense",
    "replay": "ar_perception.nodes.replay:Replay",
    "encoder": "ar_perception.nodes.encoder:Encoder",
    "segment": "ar_perception.nodes.segment:Segment",
    "depth": "ar_perception.nodes.depth:DepthHead",
    "pointcloud": "ar_perception.nodes.pointcloud:PointCloud",
    "microphone": "ar_perception.nodes.microphone:Microphone",
    "wav": "ar_perception.nodes.wav:Wav",
    "speech": "ar_perception.nodes.speech:Speech",
    "scene": "ar_perception.nodes.scene:Scene",
    "vqa": "ar_perception.nodes.vqa:Vqa",
    "ask": "ar_perception.nodes.ask:Ask",
    "ask_reply": "ar_perception.nodes.ask:AskReply",
    "recorder": "ar_perception.nodes.recorder:Recorder",
    "rerun_view": "ar_perception.nodes.rerun_view:RerunView",
}


# Only importable dotted module names and a class name: no paths, no expressions, nothing evaluated.
_REF_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def available_builtins() -> list[str]:
    """Built-in names whose module exists in this installation."""
    import importlib.util

    return sorted(n for n, t in BUILTINS.items() if importlib.util.find_spec(t.partition(":")[0]) is not None)


class NodeRefError(Exception):
    """A node reference that does not resolve; the message says why."""


def _add_paths(paths: list[str]) -> None:
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)


def resolve(ref: str, search_paths: list[str] | None = None) -> type[Any]:
    """The class a graph's `node:` field names: a built-in name or `pkg.module:Class`."""
    target = BUILTINS.get(ref, ref)
    if ":" not in target:
        import difflib

        near = difflib.get_close_matches(ref, available_builtins(), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise NodeRefError(f"unknown node type '{ref}' (expected a built-in name or 'module:Class'{hint})")
    if not _REF_RE.match(target):
        raise NodeRefError(
            f"invalid node reference '{ref}' (expected a built-in name or 'package.module:Class' "
            "made of Python identifiers)"
        )
    module_name, _, cls_name = target.partition(":")
    _add_paths(search_paths or [])
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise NodeRefError(f"cannot import module '{module_name}' for node '{ref}': {e}") from None
    except Exception as e:  # a plugin that raises at import time
        raise NodeRefError(f"importing '{module_name}' for node '{ref}' raised {type(e).__name__}: {e}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        names = [n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, NodeType)]
        raise NodeRefError(
            f"module '{module_name}' has no class '{cls_name}'"
            + (f" (it has nodes: {', '.join(names)})" if names else "")
        )
    if not (inspect.isclass(cls) and issubclass(cls, NodeType)):
        got = f"class {cls.__name__}" if inspect.isclass(cls) else f"a {type(cls).__name__}"
        raise NodeRefError(f"'{target}' is not a node (expected a subclass of ar_perception.Node, got {got})")
    return cls


def discover_plugins(folder: Path) -> dict[str, type[Any] | Exception]:
    """Every Node subclass defined in the modules of a plugins folder, as {'plugins.mod:Class': cls}; a module
    that fails to import as {'plugins.mod:?': the error}."""
    found: dict[str, type[Any] | Exception] = {}
    if not folder.is_dir():
        return found
    _add_paths([str(folder.parent.resolve())])
    for info in pkgutil.iter_modules([str(folder)]):
        name = f"{folder.name}.{info.name}"
        try:
            module = importlib.import_module(name)
        except Exception as e:  # listed, not fatal: `arp nodes` shows it
            found[f"{name}:?"] = e
            continue
        for cname, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, NodeType) and obj.__module__ == name:
                found[f"{name}:{cname}"] = obj
    return found
