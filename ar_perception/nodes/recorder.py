"""Record every message that reaches any input to one MCAP file (see ar_perception.recording)."""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ar_perception.errors import NodeError, RecordingError
from ar_perception.nodes._files import output_path
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs


class Recorder(Node):
    """Records its inputs (any names, all `queue: reliable`) to an MCAP file; never drops."""

    inputs = {"*": "Any"}
    reliable_inputs = True

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        file: str = Field(description="the .mcap file to write (replaced if it exists; its folder is created)")
        compression: Literal["zstd", "lz4", "none"] = Field(
            "lz4", description="lz4 keeps up with twice the streams zstd does, for files ~20% larger"
        )
        flush_s: float = Field(0.5, gt=0, le=1.0, description="close a chunk at least this often (s)")
        chunk_mb: float = Field(4.0, gt=0, le=256, description="close a chunk when it holds this much (MiB)")

    params: Params

    def setup(self) -> None:
        from ar_perception.recording.writer import RecordingWriter

        try:
            self.writer = RecordingWriter(
                output_path(self.id, "file", self.params.file),
                graph=self.graph_text,
                compression=self.params.compression,
                chunk_size=int(self.params.chunk_mb * (1 << 20)),
                flush_s=self.params.flush_s,
                metadata={"recorder": self.id},
            )
        except RecordingError as e:
            raise NodeError(f"node '{self.id}': params.file: {e}") from None
        self.unrecorded = 0
        self._raised = False
        self._done = threading.Event()
        # A quiet input must not leave its last messages unflushed: flush on a timer too.
        self._flusher = threading.Thread(target=self._flush_loop, name="arp-recorder-flush", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._done.wait(self.params.flush_s / 4):
            try:
                self.writer.maybe_flush()
            except RecordingError:
                return  # raised to the runtime by the next on_input, or logged at teardown

    def on_input(self, name: str, msg: Msg) -> Outputs:
        if self.writer.failed is not None:
            self.unrecorded += 1
            if not self._raised:  # a failure met by the flush timer: the runtime hears of it once, here
                self._raised = True
                raise self.writer.failed
            return None
        try:
            self.writer.write(msg)
        except RecordingError as e:
            self.unrecorded += 1
            self._raised = True
            raise (self.writer.failed or e) from None  # the flush timer may have met the error first
        return None

    def teardown(self) -> None:
        if getattr(self, "writer", None) is None:
            return
        self._done.set()
        self._flusher.join(2.0)
        if self.writer.failed is not None:
            self.log.error(
                "recorder '%s': %d messages were NOT recorded%s",
                self.id,
                self.unrecorded,
                "" if self._raised else f": {self.writer.failed}",
            )
            return
        lost = {t: s.lost for t, s in self.writer.topics.items() if s.lost}
        if lost:
            self.log.warning(
                "recorder '%s': sequence gaps (messages lost before they reached the recorder): %s",
                self.id,
                ", ".join(f"{t}={n}" for t, n in lost.items()),
            )
        self.writer.close()
