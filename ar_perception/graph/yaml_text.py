"""A graph file's text as a raw mapping: the file read as UTF-8, its YAML read safely and within limits,
${env:NAME,DEFAULT} substituted and `--set ID.PARAM=VALUE` overrides applied."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from ar_perception.errors import GraphError
from ar_perception.graph.problems import describe, did_you_mean, where_in

_ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?:,([^}]*))?\}")
_MAX_VALUES = 100_000  # YAML aliases that repeat each other expand exponentially ("billion laughs")
_MAX_DEPTH = 64


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, where plain YAML lets the last silently win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with <<: may be overridden on purpose
            key = self.construct_object(key_node)
            if key in first:
                raise _DuplicateKey(
                    problem=f"duplicate key '{key}' (expected each key once per mapping, got it "
                    f"again; the first is on line {first[key].start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
            first[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_graph_text(path: str | os.PathLike[str]) -> str:
    """The text of a graph file; a file that is missing, unreadable or not UTF-8 is a GraphError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise GraphError(f"{p}: no such graph file") from None
    except OSError as e:
        raise GraphError(f"{p}: cannot read graph file: {e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise GraphError(
            f"{p}:{line}: not UTF-8 text (expected a UTF-8 YAML file, got byte "
            f"0x{data[e.start]:02x} at offset {e.start})"
        ) from None


def read_yaml(text: str, path: str) -> dict[str, Any]:
    """The YAML mapping of a graph file; a syntax error names its line and column."""
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        kind = "" if isinstance(e, _DuplicateKey) else "YAML syntax error: "
        start = e.context_mark if e.context_mark and mark and e.context_mark.line != mark.line else None
        raise GraphError(
            f"{path}{pos}: {kind}{e.problem or e}"
            + (
                f" ({e.context}" + (f" at {start.line + 1}:{start.column + 1}" if start else "") + ")"
                if e.context
                else ""
            )
        ) from None
    except yaml.YAMLError as e:
        raise GraphError(f"{path}: YAML error: {e}") from None
    except RecursionError:
        raise GraphError(f"{path}: nested too deeply (expected at most {_MAX_DEPTH} levels, got more)") from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else describe(raw)
        raise GraphError(f"{path}: a graph file must be a mapping with a 'nodes' list (got {got})")
    return raw


def substitute_env(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """Expand ${env:NAME} and ${env:NAME,DEFAULT} in every string; refuse a file whose aliases explode."""
    problems: list[str] = []
    count = 0

    def expand(value: str, loc: tuple[Any, ...]) -> Any:
        def sub(m: re.Match[str]) -> str:
            if m.group(1) in os.environ:
                return os.environ[m.group(1)]
            if m.group(2) is not None:
                return m.group(2)
            problems.append(
                f"{path}: {where_in(raw, loc)}: environment variable {m.group(1)} is not set and has "
                f"no default (expected it set, or a default as in ${{env:{m.group(1)},DEFAULT}})"
            )
            return m.group(0)

        full = _ENV_RE.fullmatch(value)
        out = _ENV_RE.sub(sub, value)
        if not (full and out.strip()):
            return out
        # A value that is only a reference takes the YAML type of what it expands to (numbers stay numbers).
        try:
            return yaml.safe_load(out)
        except yaml.YAMLError:
            return out

    def walk(value: Any, loc: tuple[Any, ...]) -> Any:
        nonlocal count
        count += 1
        if count > _MAX_VALUES:
            raise GraphError(
                f"{path}: the file expands to more than {_MAX_VALUES} values (expected a graph; "
                "YAML aliases that repeat each other grow exponentially)"
            )
        if len(loc) > _MAX_DEPTH:
            raise GraphError(
                f"{path}: {where_in(raw, loc[:4])}: nested too deeply (expected at most {_MAX_DEPTH} levels, got more)"
            )
        if isinstance(value, str):
            return expand(value, loc)
        if isinstance(value, dict):
            return {k: walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*loc, i)) for i, v in enumerate(value)]
        return value

    out = walk(raw, ())
    if problems:
        raise GraphError(problems)
    return out


def apply_overrides(raw: dict[str, Any], sets: list[str], prefix: str) -> None:
    """Apply `--set ID.PARAM=VALUE` (VALUE read as YAML) to the raw graph."""
    problems = []
    listed = raw.get("nodes")
    nodes = (
        {n["id"]: n for n in listed if isinstance(n, dict) and isinstance(n.get("id"), str)}
        if isinstance(listed, list)
        else {}
    )
    for s in sets:
        key, eq, value = s.partition("=")
        nid, dot, param = key.partition(".")
        if not eq or not dot or not param:
            problems.append(f"--set {s!r}: expected ID.PARAM=VALUE")
            continue
        if nid not in nodes:
            problems.append(f"--set {s!r}: no node '{nid}'{did_you_mean(nid, [str(k) for k in nodes])}")
            continue
        target = nodes[nid].setdefault("params", {})
        inside = "params"
        *head, last = param.split(".")
        for h in head:
            if not isinstance(target, dict):
                break
            target, inside = target.setdefault(h, {}), f"{inside}.{h}"
        if not isinstance(target, dict):
            problems.append(
                f"--set {s!r}: cannot set a parameter inside {nid}.{inside} "
                f"(expected a mapping, got {describe(target)})"
            )
            continue
        try:
            target[last] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            target[last] = value
    if problems:
        raise GraphError([f"{prefix}: {p}" for p in problems])
