"""A node's setup in its process: run it, interrupt it when the run stops meanwhile, and say in one line why
it failed.

A node still in setup (models loading) has taken and sent nothing, so a stop interrupts its setup instead of
waiting for it: the receive thread sends the main thread a SIGTERM, whose handler raises `_StoppedInSetup`
inside the setup. A setup that cannot be interrupted (native code holding the GIL) is ended by the supervisor
(`Supervisor._finish`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from ar_perception.errors import ArpError
from ar_perception.runtime.node import Node

__all__ = ["SetupGuard", "failure_line"]


class _StoppedInSetup(BaseException):
    """Raised in the main thread, inside the node's setup, when a stop arrives: the node has not run yet."""


class SetupGuard:
    """Runs `node.setup()` once in the main thread; `interrupt()` (any thread) stops a setup under way."""

    def __init__(self, node: Node, stopped: threading.Event, log: logging.Logger):
        self.node, self.stopped, self.log = node, stopped, log
        self.ok = False  # the setup finished without an error
        self._lock = threading.Lock()
        self._begun = False
        self._done = threading.Event()
        self._interrupting = False
        self._installed = threading.current_thread() is threading.main_thread()
        if self._installed:
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def run(self) -> str | None:
        """Run the setup. Returns None when it finished, "" when the node stopped before or during it, or the
        one line that says why it failed (its traceback is logged at debug level)."""
        with self._lock:
            if self.stopped.is_set():
                self._done.set()
                return ""  # stopped before the setup began
            self._begun = True
        try:
            try:
                self.node.setup()
            finally:
                self._done.set()
        except _StoppedInSetup:
            self.log.debug("node '%s': stopped during setup", self.node.id)
            return ""
        except Exception as e:
            self.log.debug("node '%s' failed in setup", self.node.id, exc_info=True)
            if self.stopped.is_set():
                # Stopped meanwhile: the interrupt may surface as another error (a native module whose import
                # it broke raises ImportError), and a run that stops has no use for this node anyway.
                return ""
            return failure_line(self.node.id, e, self.node.params)
        self.ok = True
        return "" if self.stopped.is_set() else None

    def interrupt(self) -> None:
        with self._lock:
            if not self._begun or self._done.is_set() or self._interrupting or not self._installed:
                return
            self._interrupting = True
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    def _on_sigterm(self, *_: Any) -> None:
        if self._interrupting:  # sent by interrupt()
            self._interrupting = False
            if not self._done.is_set():
                raise _StoppedInSetup
            return  # the setup had returned by itself: the stop takes its usual way
        raise SystemExit(143)


def failure_line(node_id: str, e: BaseException, params: Any = None, what: str = "failed in setup") -> str:
    """The one line a user sees when a node cannot start: the node, the parameter when the error is about one,
    and what to do. The project's own errors say that already; anything else gets its type and a pointer to
    the traceback, which is logged at debug level."""
    head = f"node '{node_id}' {what}"
    if isinstance(e, ArpError):
        text, own = str(e), f"node '{node_id}': "
        if text.startswith(own):
            return f"{head}: {text[len(own) :]}"
        return text if text.startswith(f"node '{node_id}' ") else f"{head}: {text}"
    param = _param_of_path(params, e.filename) if isinstance(e, OSError) else None
    if param is not None:
        assert isinstance(e, OSError)
        return f"{head}: params.{param}: '{e.filename}': {e.strerror or e} (fix the path: --set {node_id}.{param}=...)"
    text = " ".join(str(e).split())  # one line, also for a multi-line message
    return f"{head}: {type(e).__name__}{': ' + text if text else ''} (run with --log-level debug for the traceback)"


def _param_of_path(params: Any, filename: Any) -> str | None:
    """The parameter whose value is the path an OSError names, if one is."""
    if params is None or not isinstance(filename, str | bytes | os.PathLike):
        return None
    want = os.path.abspath(os.path.expanduser(os.fsdecode(filename)))
    for name, value in params.model_dump().items():
        if isinstance(value, str) and value and os.path.abspath(os.path.expanduser(value)) == want:
            return str(name)
    return None
