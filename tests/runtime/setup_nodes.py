"""Nodes whose setup fails or takes long on purpose, for the start and stop tests of the supervisor."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ar_perception import Node
from ar_perception.errors import ModelError


class _Marker(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marker: str = ""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "weights.bin"


def _mark(path: str) -> None:
    """Tell the test that setup has begun (and which process runs it)."""
    tmp = Path(f"{path}.tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(path)  # whole, or not there yet


class TypeErrorInSetup(Node):
    """A bug in setup: an exception the node did not mean to raise."""

    inputs = ("in",)

    def setup(self) -> None:
        int([])  # type: ignore[call-overload]


class ModelErrorInSetup(Node):
    """A setup that raises the project's own error, naming its parameter."""

    inputs = ("in",)
    Params = _Model
    params: _Model

    def setup(self) -> None:
        raise ModelError(f"node '{self.id}': params.model: no model file '{self.params.model}' (arp weights list)")


class OpensItsModel(Node):
    """Opens the file its `model` parameter names, with no error handling of its own."""

    inputs = ("in",)
    Params = _Model
    params: _Model

    def setup(self) -> None:
        open(self.params.model, "rb").close()


class FailsToBuild(Node):
    """Raises while the node object is built, before its setup."""

    inputs = ("in",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("no GPU in this constructor")


class TeardownTripsOverSetup(Node):
    """Fails in setup before it sets what its teardown uses."""

    inputs = ("in",)

    def setup(self) -> None:
        raise ValueError("bad calibration")

    def teardown(self) -> None:
        self.device.close()  # type: ignore[attr-defined]


class SlowSetup(Node):
    """Loads a 'model' for a minute: writes `marker`, then sleeps in setup; its teardown leaves MARKER.teardown."""

    inputs = ("in",)
    Params = _Marker
    params: _Marker

    def setup(self) -> None:
        _mark(self.params.marker)
        time.sleep(60)

    def teardown(self) -> None:
        Path(f"{self.params.marker}.teardown").touch()


class SetupIgnoresStop(Node):
    """A setup that cannot be interrupted (like native code that never checks for signals)."""

    inputs = ("in",)
    Params = _Marker
    params: _Marker

    def setup(self) -> None:
        _mark(self.params.marker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                time.sleep(deadline - time.monotonic())
            except BaseException:  # on purpose: swallows the stop
                pass
