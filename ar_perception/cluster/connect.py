"""Connecting to Ray for `--cluster auto|local|HOST:PORT` (or `none`: no Ray at all).

Ray is the optional `cluster` extra; without it `none` is the only choice, and asking for a cluster says how
to install it. `local` starts a private one-machine cluster bound to 127.0.0.1 (`address="local"` never
attaches to a cluster that happens to be running); `auto` joins the cluster `ray start` runs on this machine;
`HOST:PORT` joins a cluster's head (its GCS port, 6379 by default)."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ar_perception.errors import ArpError

__all__ = ["ClusterError", "default_cluster", "check_address", "ray_module", "connected", "first_line"]

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


class ClusterError(ArpError):
    """A cluster that cannot be reached or used, or Ray missing."""


def first_line(e: BaseException) -> str:
    """The first line of an error's text (Ray's errors carry whole remote tracebacks)."""
    return (str(e).strip().splitlines() or [""])[0]


def default_cluster() -> str:
    """`local` when Ray is installed, else `none` (the same work in this process, one after another)."""
    return "local" if importlib.util.find_spec("ray") is not None else "none"


def check_address(address: str) -> str:
    """The --cluster value, checked: none, local, auto or HOST:PORT."""
    if address in ("none", "local", "auto") or _HOST_PORT.match(address):
        return address
    raise ClusterError(
        f"--cluster {address!r}: expected none, local, auto or HOST:PORT (a Ray head, e.g. gpu-box:6379)"
    )


def ray_module() -> Any:
    """The `ray` module, or a ClusterError that says how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ClusterError(
            f"Ray is not installed ({e}); install the cluster extra: pip install 'ar-perception[cluster]', "
            "or run on this machine alone with --cluster none"
        ) from e
    return ray


@contextmanager
def connected(address: str, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, connected to `address` (not `none`) for the block; a cluster this started is shut down after it."""
    ray = ray_module()
    if ray.is_initialized():  # already connected (a test or a notebook): use it as it is
        yield ray
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False, "logging_level": "ERROR"}
    if address == "local":
        # The node's own address, so that a cluster on a laptop talks only on loopback.
        kwargs |= {"address": "local", "_node_ip_address": "127.0.0.1", "num_cpus": num_cpus or os.cpu_count()}
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"--cluster {address}: cannot connect to Ray ({first_line(e)})") from e
    try:
        yield ray
    finally:
        ray.shutdown()
