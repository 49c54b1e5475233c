"""The dora-rs contender of the transport benchmark: a sender or a receiver node of a two-node dora dataflow that
benchmarks/transport.py writes and runs with `dora run` (the `bench` extra: dora-rs and dora-rs-cli 1.1.0).

The sender waits `DORA_BENCH_START_S` for the receiver to come up, then sends `DORA_BENCH_COUNT` payloads of
`DORA_BENCH_NBYTES` (a flat uint8 Arrow array; dora puts large ones in shared memory) every
`DORA_BENCH_PERIOD_MS`, each with metadata {seq, t: time.time_ns() just before send_output}, then lingers a
second so that the dataflow does not end with messages still queued. The receiver takes
`time.time_ns()` first thing on each input, views the payload as numpy without a copy where Arrow allows, and
writes rows (seq, publish_ns, recv_ns, nbytes) to `DORA_BENCH_OUT` when its input closes, as raw_peer.py does.
"""

from __future__ import annotations

import os
import time

import numpy as np


def send() -> None:
    import pyarrow as pa  # type: ignore[import-untyped]
    from dora import Node

    nbytes = int(os.environ["DORA_BENCH_NBYTES"])
    count = int(os.environ["DORA_BENCH_COUNT"])
    period = float(os.environ["DORA_BENCH_PERIOD_MS"]) / 1000.0
    node = Node()
    time.sleep(float(os.environ.get("DORA_BENCH_START_S", "1.0")))
    data = np.full(nbytes, 7, np.uint8)
    payload = pa.array(data)  # built once, as the other contenders send one prepared buffer
    for i in range(count):
        node.send_output("out", payload, {"seq": i, "t": time.time_ns()})
        if period:
            time.sleep(period)
    # linger, as the ZeroMQ contenders do (LINGER -1): a sender that exits at once ends the dataflow, and dora
    # then stops the receiver with messages still queued for it
    time.sleep(float(os.environ.get("DORA_BENCH_LINGER_S", "1.0")))


def recv() -> None:
    from dora import Node

    out = os.environ["DORA_BENCH_OUT"]
    rows: list[tuple[int, int, int, int]] = []
    node = Node()
    for event in node:
        if event["type"] == "INPUT":
            now = time.time_ns()
            meta = event["metadata"]
            data = event["value"].to_numpy(zero_copy_only=False)
            rows.append((int(meta["seq"]), int(meta["t"]), now, int(data.nbytes)))
            del data, event
        elif event["type"] in ("STOP", "INPUT_CLOSED", "ALL_INPUTS_CLOSED"):
            break
    np.save(out, np.array(rows, dtype=np.int64).reshape(-1, 4))


if __name__ == "__main__":
    (send if os.environ.get("DORA_BENCH_ROLE") == "send" else recv)()
