"""CurveZMQ key pairs for links between machines: create, load and check them.

A machine has one key pair (`NAME.key` public, `NAME.key_secret` secret, in ZeroMQ's certificate
format). Nodes on a machine accept connections only from the public keys in its authorised folder.
ZeroMQ is imported only where key files are written or read, so that checking endpoints costs nothing.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ar_perception.errors import TransportError

__all__ = [
    "CurveKeys",
    "create_keypair",
    "write_public",
    "load_public",
    "load_secret",
    "load_authorized",
    "is_loopback",
    "endpoint_host",
    "default_keys_dir",
]


def default_keys_dir() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "arp" / "keys"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_host(endpoint: str) -> str:
    """The host of a tcp://HOST:PORT endpoint (without the brackets of an IPv6 address)."""
    return endpoint.removeprefix("tcp://").rpartition(":")[0].strip("[]")


def create_keypair(folder: str | os.PathLike[str], name: str, *, force: bool = False) -> tuple[Path, Path]:
    """Write NAME.key and NAME.key_secret (mode 0600) into folder; return their paths."""
    import zmq
    import zmq.auth

    if not zmq.has("curve"):
        raise TransportError("this libzmq was built without CurveZMQ support")
    folder = Path(folder).expanduser()
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    if not force and (public.exists() or secret.exists()):
        raise TransportError(f"{public}: a key pair named '{name}' already exists (use --force to replace it)")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    pub_file, sec_file = zmq.auth.create_certificates(str(folder), name)
    os.chmod(sec_file, 0o600)
    return Path(pub_file), Path(sec_file)


def write_public(path: str | os.PathLike[str], public: bytes) -> Path:
    """A public-key file (the format `arp keys create` writes, without a secret) for a key given as z85."""
    p = Path(path)
    p.write_text(f'metadata\ncurve\n    public-key = "{public.decode("ascii")}"\n')
    return p


def _load(path: str | os.PathLike[str]) -> tuple[bytes, bytes | None]:
    import zmq.auth

    p = Path(path).expanduser()
    if not p.is_file():
        raise TransportError(f"{p}: no such key file (create one with `arp keys create NAME`)")
    bad = f"{p}: not a CurveZMQ key file (expected the public-key line `arp keys create` writes)"
    try:
        public, secret = zmq.auth.load_certificate(str(p))
    except (ValueError, OSError, UnicodeDecodeError):
        raise TransportError(bad) from None
    if public is None or len(public) != 40:
        raise TransportError(bad)
    return public, secret


def load_public(path: str | os.PathLike[str]) -> bytes:
    return _load(path)[0]


def load_secret(path: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """(public, secret) of a NAME.key_secret file."""
    public, secret = _load(path)
    if secret is None or len(secret) != 40:
        raise TransportError(
            f"{Path(path).expanduser()}: has no secret-key (expected the NAME.key_secret file "
            "`arp keys create` wrote, got a public key file)"
        )
    return public, secret


def load_authorized(folder: str | os.PathLike[str]) -> set[bytes]:
    """The public keys (z85) in every *.key file of a folder."""
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise TransportError(f"{d}: no such folder of authorised keys")
    keys = {load_public(p) for p in sorted(d.glob("*.key"))}
    if not keys:
        raise TransportError(
            f"{d}: holds no public keys (expected NAME.key files; copy the .key file of each "
            "machine allowed to connect here)"
        )
    return keys


@dataclass(frozen=True)
class CurveKeys:
    """What a node process needs for CurveZMQ: its key pair, who may connect, whom it connects to."""

    public: bytes
    secret: bytes
    authorized: frozenset[bytes]
    # host (or HOST:PORT, one socket) -> public key of the machine there
    servers: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def load(cls, secret_key: str, authorized_keys: str, server_keys: dict[str, str]) -> CurveKeys:
        public, secret = load_secret(secret_key)
        return cls(
            public,
            secret,
            frozenset(load_authorized(authorized_keys)),
            {h: load_public(p) for h, p in server_keys.items()},
        )

    def server_for(self, endpoint: str) -> bytes:
        """The public key of the machine behind a tcp endpoint: named for the endpoint itself (HOST:PORT, as
        `arp run --cluster` does: two machines may share an address), or for its host, or else our own."""
        exact = self.servers.get(endpoint.removeprefix("tcp://"))
        return exact if exact is not None else self.servers.get(endpoint_host(endpoint), self.public)
