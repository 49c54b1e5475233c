"""Running a command inside a network namespace of its own that has only loopback (`unshare -n`, then
`ip link set lo up`), as every Ray test must: Ray, left to itself, binds to the machine's primary address."""

import functools
import shutil
import subprocess
from collections.abc import Sequence

import pytest

PREFIX = ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "_"]


@functools.cache
def _why_not() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is not installed"
    p = subprocess.run([*PREFIX, "true"], capture_output=True, text=True)
    return None if p.returncode == 0 else f"cannot make a network namespace here: {p.stderr.strip()}"


def in_loopback(args: Sequence[str], *, timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run `args` in a new loopback-only network namespace (skip the test where one cannot be made)."""
    if why := _why_not():
        pytest.skip(why)
    return subprocess.run([*PREFIX, *args], capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
