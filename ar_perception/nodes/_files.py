"""What the nodes that write files share: an output file's folder is made in setup (a fresh clone has no
`out/` yet), and a path that cannot be written is a NodeError naming the node and the parameter."""

from __future__ import annotations

from pathlib import Path

from ar_perception.errors import NodeError


def with_folder(path: str | Path) -> Path:
    """`path` (with ~ expanded) once its folder exists."""
    out = Path(path).expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NodeError(
            f"cannot create the folder '{out.parent}' for '{out}' ({e.strerror or e}); "
            "give a path in a folder that can be written"
        ) from None
    return out


def output_path(node_id: str, param: str, path: str) -> Path:
    """`with_folder(path)` for a node's parameter: its errors name the node and the parameter."""
    try:
        return with_folder(path)
    except NodeError as e:
        raise NodeError(f"node '{node_id}': params.{param}: {e}") from None
