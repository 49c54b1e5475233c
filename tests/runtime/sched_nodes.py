"""Nodes for the tests of how node processes share the CPU (graph `nice`, `cpu_s` in the statistics)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict

from ar_perception import Msg, Node
from ar_perception.runtime.node import Outputs


class _WhereP(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out: str


class Where(Node):
    """Writes what the scheduler sees of its process to `out` (JSON): the nice value of its main thread and of a
    thread it starts, its autogroup line, whether it leads its session, and OPENBLAS_THREAD_TIMEOUT."""

    outputs = ("out",)
    Params = _WhereP
    params: _WhereP

    def produce(self) -> Iterator[Outputs]:
        seen: dict[str, object] = {}

        def in_thread() -> None:
            seen["thread_nice"] = os.getpriority(os.PRIO_PROCESS, 0)

        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        try:
            with open("/proc/self/autogroup") as f:
                seen["autogroup"] = f.read().strip()
        except OSError:
            seen["autogroup"] = None
        own = threading.get_native_id()
        others = [int(t) for t in os.listdir("/proc/self/task") if int(t) != own]
        seen.update(
            nice=os.getpriority(os.PRIO_PROCESS, 0),
            blas_nice=[n for t in others if (n := _priority(t)) is not None],  # the runtime's threads, OpenBLAS's
            session_leader=os.getsid(0) == os.getpid(),
            openblas_timeout=os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
        )
        with open(self.params.out, "w") as f:
            json.dump(seen, f)
        yield {"out": Msg(meta={"done": True})}


def _priority(tid: int) -> int | None:
    """A thread's nice value, or None if it has just ended (the joined helper thread may still be listed)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return None


class _BurnP(BaseModel):
    model_config = ConfigDict(extra="forbid")
    setup_s: float = 0.0  # CPU seconds burnt in setup (before the graph starts)
    run_s: float = 0.0  # CPU seconds burnt per message
    sleep_s: float = 0.0  # seconds slept per message


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


class Burn(Node):
    """Spends CPU (or sleeps) in setup and on every message, as its parameters say."""

    inputs = ("in",)
    Params = _BurnP
    params: _BurnP

    def setup(self) -> None:
        _burn(self.params.setup_s)

    def on_input(self, name: str, msg: Msg) -> Outputs:
        _burn(self.params.run_s)
        time.sleep(self.params.sleep_s)
        return None
