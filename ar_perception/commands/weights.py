"""`arp weights list|fetch` and `arp export`: EUPE weights and ONNX files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ar_perception.commands import fail
from ar_perception.errors import ArpError

__all__ = ["register"]

console = Console()


def register(app: typer.Typer) -> None:
    weights = typer.Typer(
        help="EUPE weights: what is in the local cache, and fetching the official files.", no_args_is_help=True
    )
    app.add_typer(weights, name="weights")

    @weights.command("list")
    def list_() -> None:
        """Show every EUPE model, whether its official file is in the cache, and where."""
        from ar_perception.models.weights import list_weights, weights_dir

        t = Table(title=f"EUPE weights (cache: {weights_dir()})")
        t.add_column("model", no_wrap=True)
        for col in ("file", "present", "size MB", "hub repository"):
            t.add_column(col)
        for w in list_weights():
            t.add_row(
                w.name,
                w.filename,
                "yes" if w.present else "no",
                f"{w.size_bytes / 2**20:.1f}" if w.size_bytes else "-",
                w.hf_repo,
            )
        console.print(t)

    @weights.command("fetch")
    def fetch(
        name: str = typer.Argument(..., help="e.g. eupe-vit-s"),
        force: bool = typer.Option(False, help="download again even if cached"),
    ) -> None:
        """Download the official checkpoint into the cache (needs network and the licence accepted)."""
        from ar_perception.models.weights import fetch as do_fetch

        try:
            path = do_fetch(name, force=force)
        except ArpError as e:
            fail(e)
        console.print(f"{name}: {path}", highlight=False)

    @app.command()
    def export(
        name: str = typer.Argument(..., help="EUPE model name, e.g. eupe-vit-s"),
        resolution: int = typer.Option(256, help="square input size (a multiple of the stride)"),
        output: Path = typer.Option(..., "-o", "--output", help="the .onnx file to write"),
        weights: str = typer.Option("auto", help="auto | PATH | none (random weights, for testing)"),
        int8: bool = typer.Option(False, help="also quantise to int8 and report cosine similarity to fp32"),
        intermediate: list[int] | None = typer.Option(None, help="also export these blocks/stages"),
    ) -> None:
        """Export an encoder's features (class, storage and patch tokens) to ONNX with a dynamic batch."""
        from ar_perception.models.eupe import load_encoder
        from ar_perception.models.onnx_export import export_encoder

        try:
            with console.status(f"loading {name}"):
                model = load_encoder(name, None if weights == "none" else weights)
            with console.status(f"exporting {name} at {resolution}x{resolution}"):
                report = export_encoder(model, output, resolution, int8=int8, intermediate=intermediate or ())
        except ArpError as e:
            fail(e)
        console.print(
            f"wrote {report.path} (input {report.input_size[0]}x{report.input_size[1]}, outputs: "
            f"{', '.join(report.outputs)})",
            highlight=False,
        )
        if report.int8:
            console.print(
                f"int8 vs fp32 cosine similarity: class token {report.cosine_cls:.4f}, "
                f"patch tokens {report.cosine_patches:.4f}",
                highlight=False,
            )
