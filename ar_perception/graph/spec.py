"""Pydantic models of the graph YAML (extra keys are errors)."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "QueueSpec",
    "InputSpec",
    "SyncSpec",
    "RestartSpec",
    "PlacementSpec",
    "NodeSpec",
    "SecuritySpec",
    "GraphSpec",
    "TIMER_RE",
    "HEALTH_TIMEOUT",
]

TIMER_RE = re.compile(r"^timer/(hz|ms)/(\d+(?:\.\d+)?)$")
_ID_RE = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_SOURCE_RE = r"^[A-Za-z_][A-Za-z0-9_\-]*/[A-Za-z_][A-Za-z0-9_\-/.]*$"

HEALTH_TIMEOUT = 30.0  # seconds a running node may go without progress before it counts as hung
RELIABLE_BOUND = 16  # messages a reliable edge buffers on each side before the producer blocks


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        # YAML reads yes/no/on/off as booleans, which pydantic would quietly take as 1 and 0
        ann = cls.model_fields[info.field_name or ""].annotation
        if isinstance(v, bool) and (
            ann in (int, float) or set(get_args(ann)) in ({int, type(None)}, {float, type(None)})
        ):
            raise ValueError(f"not a number (expected a number, got {str(v).lower()})")
        return v


class QueueSpec(_Strict):
    policy: Literal["latest", "fifo", "reliable"] = "latest"
    size: int = Field(1, ge=1, le=100_000)

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, v: Any) -> Any:
        # "latest" | "reliable" | "fifo" | "fifo:N" | {fifo: N} | {policy: ..., size: ...}
        if isinstance(v, str):
            name, colon, n = v.partition(":")
            if name == "fifo":
                if colon and not re.fullmatch(r"\s*\d+\s*", n, re.ASCII):
                    raise ValueError(f"fifo:N needs a whole number of messages N (expected e.g. fifo:8, got {v!r})")
                return {"policy": "fifo", "size": int(n) if colon else 8}
            if colon:
                raise ValueError(f"only fifo takes a size (expected latest, reliable, fifo or fifo:N, got {v!r})")
            return {"policy": name, "size": RELIABLE_BOUND if name == "reliable" else 1}
        if isinstance(v, dict) and set(v) == {"fifo"}:
            return {"policy": "fifo", "size": v["fifo"]}
        if isinstance(v, dict) and v.get("policy") == "reliable" and "size" not in v:
            return {**v, "size": RELIABLE_BOUND}
        return v


class InputSpec(_Strict):
    source: str = Field(pattern=_SOURCE_RE)
    queue: QueueSpec = QueueSpec()

    @field_validator("source")
    @classmethod
    def _timer(cls, v: str) -> str:
        if v.startswith("timer/") and not TIMER_RE.match(v):
            raise ValueError(f"timer source must be timer/hz/RATE or timer/ms/PERIOD (got {v!r})")
        if (m := TIMER_RE.match(v)) and float(m.group(2)) == 0:
            raise ValueError(f"a timer's rate or period must be above 0 (got {v!r})")
        return v


class SyncSpec(_Strict):
    mode: Literal["exact", "approximate", "latest"]
    slop: float = Field(0.05, gt=0, description="approximate: max capture-time spread, seconds")
    trigger: str | None = Field(None, description="latest: the input that triggers a call")
    timeout: float = Field(1.0, gt=0, description="messages older than this are dropped unmatched")
    buffer: int = Field(8, ge=1, le=1000)


class RestartSpec(_Strict):
    policy: Literal["never", "on-failure"] = "never"
    max: int = Field(3, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        return {"policy": v} if isinstance(v, str) else v


class PlacementSpec(_Strict):
    """Where a node runs under `arp run --cluster`: on the machine with a Ray node label, with resources."""

    machine: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="the logical machine: a Ray node's `machine` label (`ray start --labels machine=NAME`)",
    )
    resources: dict[str, float] = Field(
        {}, description="Ray resources the node needs on its machine, e.g. {GPU: 1} (reserved for the run)"
    )

    @field_validator("machine")
    @classmethod
    def _logical(cls, v: str | None) -> str | None:
        if v is not None and re.fullmatch(r"[0-9.]+", v):
            raise ValueError(
                f"{v!r} looks like an address; name the machine (a Ray node label, e.g. gpu-box), never its IP"
            )
        return v

    @field_validator("resources")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if not x > 0]
        if bad:
            raise ValueError(f"resource amounts must be > 0 (got {', '.join(f'{k}: {v[k]}' for k in bad)})")
        return v


class NodeSpec(_Strict):
    id: str = Field(pattern=_ID_RE)
    node: str = Field(min_length=1)
    params: dict[str, Any] = {}
    inputs: dict[str, InputSpec] = {}
    outputs: list[str] | None = None
    sync: SyncSpec | None = None
    restart: RestartSpec = RestartSpec()
    on_error: Literal["skip", "restart"] = "skip"
    transport: Literal["ipc", "tcp"] | None = None
    host: str | None = Field(None, description="tcp: the address this node binds and others connect to")
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="tcp: first of this node's fixed ports "
        "(one per output and reliable edge), so that it can run on another machine",
    )
    placement: PlacementSpec | None = Field(
        None, description="under `arp run --cluster`: the machine and resources it needs (ignored otherwise)"
    )
    health_timeout: float | None = Field(
        None,
        gt=0,
        description="seconds without progress after which the "
        "node counts as hung: it is killed, reported and restarted under its "
        "restart policy (default: the graph's health_timeout)",
    )
    nice: int = Field(
        0,
        ge=0,
        le=19,
        description="how much lower this node's CPU priority is than the others' (Linux nice; 0: the same). "
        "When the cores are busy, a node at 10 gets about a tenth of the CPU time of a node at 0",
    )

    @field_validator("inputs", mode="before")
    @classmethod
    def _short_inputs(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"source": s} if isinstance(s, str) else s) for k, s in v.items()}
        return v


class SecuritySpec(_Strict):
    """CurveZMQ for tcp links: every tcp socket is encrypted and only authorised keys may connect."""

    secret_key: str = Field(
        min_length=1, description="this machine's key pair: the NAME.key_secret file `arp keys create NAME` wrote"
    )
    authorized_keys: str = Field(
        min_length=1, description="folder of public keys (*.key) allowed to connect to the nodes this machine runs"
    )
    server_keys: dict[str, str] = Field(
        {},
        description="host -> public key file of the machine that binds "
        "there (nodes run by this supervisor use its own key)",
    )


class GraphSpec(_Strict):
    nodes: list[NodeSpec] = Field(min_length=1)
    transport: Literal["ipc", "tcp"] = "ipc"
    host: str = "127.0.0.1"
    stop_timeout: float = Field(5.0, gt=0, description="seconds a node gets to stop before it is killed")
    health_timeout: float = Field(
        HEALTH_TIMEOUT, gt=0, description="seconds a running node may make no progress before it counts as hung"
    )
    shm: bool = Field(
        True,
        description="large arrays (256 KiB and up) between nodes of this machine through shared memory "
        "(reused /dev/shm buffers) instead of ZeroMQ frames; false: always frames",
    )
    max_message_mb: float = Field(
        256.0, gt=0, description="larger messages are dropped and counted as bad by the node receiving them"
    )
    security: SecuritySpec | None = None
