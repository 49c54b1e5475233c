"""`arp keys create|show`: CurveZMQ key pairs for graphs whose nodes run on several machines."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ar_perception.commands import fail
from ar_perception.errors import ArpError

__all__ = ["register"]

console = Console()


def register(app: typer.Typer) -> None:
    keys = typer.Typer(
        help="CurveZMQ key pairs: every tcp link between machines is encrypted and only authorised keys may connect.",
        no_args_is_help=True,
    )
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(
        name: str = typer.Argument(..., help="name of this machine's key pair, e.g. headset"),
        folder: Path | None = typer.Option(None, "--dir", help="where to write the pair (default: ~/.config/arp/keys)"),
        force: bool = typer.Option(False, "--force", help="replace an existing pair of that name"),
    ) -> None:
        """Write NAME.key (public: copy it to the machines that should accept this one) and NAME.key_secret."""
        from ar_perception.keys import create_keypair, default_keys_dir

        try:
            public, secret = create_keypair(folder or default_keys_dir(), name, force=force)
        except ArpError as e:
            fail(e)
        console.print(
            f"public key  {public}\nsecret key  {secret} (mode 0600: keep it on this machine)",
            markup=False,
            highlight=False,
        )
        console.print(
            "Graph: security: {secret_key: <this machine's .key_secret>, authorized_keys: <folder of the "
            ".key files allowed in>, server_keys: {<host>: <.key of the machine binding there>}}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    @keys.command("show")
    def show(path: Path = typer.Argument(..., help="a .key or .key_secret file")) -> None:
        """Print the public key of a key file (never the secret)."""
        from ar_perception.keys import load_public

        try:
            console.print(load_public(path).decode(), markup=False, highlight=False)
        except ArpError as e:
            fail(e)
