"""Turn what is wrong in a graph file into one-line problems that say where: a pydantic ValidationError of the
graph's schema or of a node's parameters, located as `nodes[2] (cam).params.fps`, and the phrasing they share."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from ar_perception.ports import NodeType


def did_you_mean(word: str, options: list[str]) -> str:
    m = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f"; did you mean '{m[0]}'?" if m else ""


def describe(value: Any) -> str:
    """How a message names a value a user wrote: its repr, or what it is when that would be long."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    r = repr(value)
    return r if len(r) <= 80 else f"{r[:60]}... ({len(r)} characters)"


def where_in(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """Turn a pydantic location ('nodes', 2, 'params', 'fps') into 'nodes[2] (cam).params.fps'."""
    parts: list[str] = []
    nodes = raw.get("nodes") if isinstance(raw, dict) else None
    i = 0
    while i < len(loc):
        key = loc[i]
        if i == 0 and key == "nodes" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            idx = loc[i + 1]
            node = nodes[idx] if isinstance(nodes, list) and idx < len(nodes) else None
            nid = node.get("id") if isinstance(node, dict) else None
            parts.append(f"nodes[{idx}] ({nid})" if isinstance(nid, (str, int)) else f"nodes[{idx}]")
            i += 2
            continue
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key}]"]
        elif str(key).startswith(("function-", "literal[")):
            pass  # pydantic's internal validator names are noise to a user
        else:
            parts.append(str(key))
        i += 1
    return ".".join(parts)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid field names at a location, to suggest the nearest one for an unknown key."""
    from ar_perception.graph import spec as s

    target: type[BaseModel] | None = model
    for key in loc[:-1]:
        if isinstance(key, int) or target is None:
            continue
        f = target.model_fields.get(str(key))
        if f is None:
            return []
        ann = f.annotation
        for cand in (s.NodeSpec, s.InputSpec, s.QueueSpec, s.SyncSpec, s.RestartSpec, s.SecuritySpec):
            if cand is ann or cand.__name__ in str(ann):
                target = cand
                break
        else:
            target = None
    return list(target.model_fields) if target is not None else []


# What a section of the graph may be, for a value that is none of it (a pydantic model_type error).
_SHAPES = {
    "NodeSpec": ("not a node", "a mapping with id and node"),
    "InputSpec": ("not an input", "NODE/OUTPUT, a timer or a mapping with source and queue"),
    "QueueSpec": ("not a queue", "latest, reliable, fifo, fifo:N or a mapping with policy and size"),
    "SyncSpec": ("not a sync", "a mapping with mode: exact, approximate or latest"),
    "RestartSpec": ("not a restart policy", "never, on-failure or a mapping with policy and max"),
    "SecuritySpec": ("not a security section", "a mapping with secret_key and authorized_keys"),
}
_PATTERNS = {
    "id": "expected letters, digits, _ and -, starting with a letter or _",
    "source": "expected NODE/OUTPUT, timer/hz/RATE or timer/ms/PERIOD",
}


def pydantic_lines(
    err: ValidationError, model: type[BaseModel], raw: Any, prefix: str, loc_prefix: tuple[Any, ...] = ()
) -> list[str]:
    lines = []
    for e in err.errors():
        loc = tuple(loc_prefix) + tuple(e["loc"])
        where = where_in(raw, loc)
        got = e.get("input")
        ctx = e.get("ctx") or {}
        if e["type"] == "extra_forbidden":
            valid = _fields_at(model, tuple(e["loc"]))
            msg = (
                f"unknown key '{loc[-1]}' (expected one of: {', '.join(valid)}{did_you_mean(str(loc[-1]), valid)})"
                if valid
                else f"unknown key '{loc[-1]}'"
            )
            where = where_in(raw, loc[:-1])
        elif e["type"] == "invalid_key" or loc and loc[-1] == "[key]":  # a key that is not a string: `5: x`
            key = loc[-1] if e["type"] == "invalid_key" else loc[-2]
            msg = f"key {key!r} is not a name (expected a string, got {type(key).__name__})"
            where = where_in(raw, loc[:-1] if e["type"] == "invalid_key" else loc[:-2])
        elif e["type"] == "missing":
            msg = "is required but missing"
        elif e["type"] == "model_type" and ctx.get("class_name") in _SHAPES:
            what, shape = _SHAPES[ctx["class_name"]]
            msg = f"{what} (expected {shape}, got {describe(got)})"
        elif e["type"] == "string_pattern_mismatch" and str(loc[-1]) in _PATTERNS:
            msg = f"not a valid {loc[-1]} ({_PATTERNS[str(loc[-1])]}, got {got!r})"
        elif e["type"] == "too_short" and loc == ("nodes",):
            msg = "the graph has no nodes (expected at least one, got an empty list)"
        elif e["type"] == "value_error":  # our own validators: the message already says what it got
            msg = str(ctx.get("error") or e["msg"].removeprefix("Value error, "))
        else:
            msg = f"{e['msg']} (got {describe(got)})"
        lines.append(f"{prefix}: {where}: {msg}" if where else f"{prefix}: {msg}")
    return lines


def param_lines(err: ValidationError, cls: type[NodeType], at: str) -> list[str]:
    lines = []
    fields = list(cls.Params.model_fields)
    for e in err.errors():
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])[1:]
        if e["type"] == "extra_forbidden":
            name = str(e["loc"][-1])
            msg = f"unknown parameter (expected one of: {', '.join(fields) or 'none'}{did_you_mean(name, fields)})"
        elif e["type"] == "missing":
            msg = "is required but missing"
        elif e["type"] == "value_error":
            msg = str((e.get("ctx") or {}).get("error") or e["msg"].removeprefix("Value error, "))
        else:
            msg = f"{e['msg']} (got {describe(e.get('input'))})"
        lines.append(f"{at}.params.{path}: {msg}")
    return lines
