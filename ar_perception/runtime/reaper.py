"""Watchdog process: when the supervisor dies (even by SIGKILL), kill its nodes and remove the run dir.

It reads lines from stdin: `pid N` for each node process, `done` at a clean exit. End of file without
`done` means the supervisor is gone.

It leaves its parent at once (a second fork: its parent exits, it lives on with the same standard input), so
that what kills the supervisor's children when the supervisor dies (Ray does so to the processes of a worker
it ends: `arp run --cluster`) does not kill the watchdog before it has cleaned up.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys


def main() -> int:
    run_dir = sys.argv[1]
    pids: set[int] = set()
    for line in sys.stdin:
        word, _, arg = line.strip().partition(" ")
        if word == "pid":
            pids.add(int(arg))
        elif word == "done":
            return 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(run_dir, ignore_errors=True)
    # The run's shared-memory segments (runtime/shm.py: /dev/shm/<run folder's name>-...).
    prefix = os.path.basename(run_dir.rstrip("/")) + "-"
    for name in os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []:
        if name.startswith(prefix):
            try:
                os.unlink(os.path.join("/dev/shm", name))
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.fork() > 0:
        os._exit(0)
    sys.exit(main())
