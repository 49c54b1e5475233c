"""What the supervisor (launch.py) and a node's process (worker.py) say to each other.

The supervisor writes one `WorkerConfig` per node to a JSON file and starts the worker on it. While the graph
runs, it broadcasts `Control` messages on one PUB socket (every worker has one SUB to it), and each worker
pushes `Report`s to the supervisor's PULL socket. Every message is a JSON object with a `type`; both sides
parse it into the models below, so a message the other side would not understand is an error at the border.

The life of a node, as messages:

    worker: Ready (repeated until started) -> Started -> Stats every 0.5 s ... -> EosSent
            (SetupError instead of Ready when its setup fails; HandlerError for each input it failed on)
    supervisor: Start(nodes) once all are ready ... Release(nodes) when a producer's consumers acknowledged its
    EOS (EosAck) ... Ended(node) when a process exited ... Stop at the end of the run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import zmq
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ar_perception.errors import TransportError
from ar_perception.graph.spec import QueueSpec, SecuritySpec, SyncSpec

__all__ = [
    "InputPlan",
    "OutputPlan",
    "DirectPlan",
    "WorkerConfig",
    "Start",
    "Stop",
    "Release",
    "Ended",
    "Control",
    "ControlMsg",
    "Ready",
    "Started",
    "EosAck",
    "EosSent",
    "StatsReport",
    "SetupError",
    "HandlerError",
    "Report",
    "ReportMsg",
    "send",
    "recv_control",
    "recv_report",
]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- the configuration of one node's process ------------------------------------------------------------
class InputPlan(_Message):
    source: str  # "node/output", or a timer ("timer/hz/30", "timer/ms/100")
    queue: QueueSpec
    endpoint: str | None = None  # where to connect; None for a timer
    shm_index: int | None = None  # its counter in the producer's shared memory (graph `shm`, same host)
    direct: str | None = None  # where it binds its datagram socket, on a direct edge (runtime/direct.py)


class DirectPlan(_Message):
    """One consumer of an output on a direct edge (runtime/direct.py), in `shm_index` order."""

    path: str  # the consumer's datagram socket
    to: str  # the consumer node
    reliable: bool  # waits for room (else a full socket drops the message)


class OutputPlan(_Message):
    kind: str
    pub: str  # the XPUB endpoint the lossy consumers subscribe to
    subscribers: int  # lossy consumers to wait for before the start
    reliable: list[str] = []  # one PUSH endpoint per reliable consumer
    reliable_to: list[str] = []  # the consumer node of each of those endpoints
    reliable_bound: int = 1  # the send high-water mark: the largest queue size of the reliable consumers
    shm_prefix: str | None = None  # its shared-memory segments' path prefix (graph `shm`, consumers here)
    shm_consumers: int = 0  # the consumers that release its slots (their `shm_index`: 0..n-1)
    direct: list[DirectPlan] = []  # its consumers' datagram sockets, when its edges are direct (with `shm`)


class WorkerConfig(_Message):
    node_id: str
    ref: str  # the node's type: a registered name or `module:Class`
    params: dict[str, Any]
    search_paths: list[str] = []
    strict: bool = False
    on_error: Literal["skip", "restart"] = "skip"
    inputs: dict[str, InputPlan] = {}
    outputs: dict[str, OutputPlan] = {}
    sync: SyncSpec | None = None
    ctl: str  # the supervisor's control PUB
    up: str  # the supervisor's report PULL
    log_level: str = "WARNING"
    graph_text: str = ""
    security: SecuritySpec | None = None
    max_message_bytes: int | None = None
    nice: int = 0  # graph `nice`: how much lower its CPU priority is


# -- supervisor -> workers (one PUB, every worker subscribes) --------------------------------------------
class Start(_Message):
    type: Literal["start"] = "start"
    nodes: list[str]  # the ready nodes that have not confirmed their start yet


class Stop(_Message):
    type: Literal["stop"] = "stop"


class Release(_Message):
    """Producers whose consumers have their EOS: they may close their sockets and exit."""

    type: Literal["release"] = "release"
    nodes: list[str]


class Ended(_Message):
    """A node's process exited for good (a restart is not an end); `clean`: with code 0, after its EOS."""

    type: Literal["ended"] = "ended"
    node: str
    clean: bool


ControlMsg = Start | Stop | Release | Ended
Control = Annotated[ControlMsg, Field(discriminator="type")]


# -- worker -> supervisor (PUSH to one PULL) --------------------------------------------------------------
class _Report(_Message):
    node: str
    pid: int


class Ready(_Report):
    """Set up, sockets bound, subscribers joined: waiting for Start (repeated until it comes)."""

    type: Literal["ready"] = "ready"


class Started(_Report):
    type: Literal["started"] = "started"


class EosAck(_Report):
    """A consumer has the EOS of `producer` on its input `input`: everything before it arrived."""

    type: Literal["eos"] = "eos"
    input: str
    producer: str


class EosSent(_Report):
    type: Literal["eos_sent"] = "eos_sent"


class StatsReport(_Report):
    """The node's counters (Stats.snapshot in publish.py); also its heartbeat for the health check."""

    type: Literal["stats"] = "stats"
    stats: dict[str, Any]


class SetupError(_Report):
    type: Literal["setup_error"] = "setup_error"
    error: str  # one line: the node, the parameter when it is about one, and the fix


class HandlerError(_Report):
    type: Literal["handler_error"] = "handler_error"
    input: str
    error: str


ReportMsg = Ready | Started | EosAck | EosSent | StatsReport | SetupError | HandlerError
Report = Annotated[ReportMsg, Field(discriminator="type")]

_CONTROL: TypeAdapter[Control] = TypeAdapter(Control)
_REPORT: TypeAdapter[Report] = TypeAdapter(Report)


def send(sock: zmq.Socket, msg: _Message, flags: int = 0) -> None:
    sock.send(msg.model_dump_json().encode(), flags)


def recv_control(sock: zmq.Socket, flags: int = 0) -> ControlMsg:
    return _parse(_CONTROL, sock.recv(flags), "control")


def recv_report(sock: zmq.Socket, flags: int = 0) -> ReportMsg:
    return _parse(_REPORT, sock.recv(flags), "report")


def _parse(adapter: TypeAdapter[Any], data: bytes, what: str) -> Any:
    try:
        return adapter.validate_json(data)
    except ValidationError as e:
        problem = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'message'}: {err['msg']}" for err in e.errors())
        raise TransportError(f"a {what} message the runtime does not know ({problem}): {data[:200]!r}") from None
