"""`arp import rgbd` (an RGB-D folder: TUM RGB-D, or rgb/ + depth/) and `arp import rosbag` (ROS 1 and ROS 2 bags):
sensor data into arp recordings for `arp replay`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ar_perception.commands import fail
from ar_perception.errors import ArpError
from ar_perception.runtime.msg import Msg

__all__ = ["register"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
import_app = typer.Typer(no_args_is_help=True, help="Import sensor data into arp recordings.")
DEFAULT_GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "rgbd.yaml"
VIDEO_GRAPH = DEFAULT_GRAPH.with_name("video.yaml")


def rgbd(
    folder: Path = typer.Argument(..., help="TUM RGB-D folder (rgb.txt, depth.txt) or rgb/ + depth/ folders"),
    out: Path = typer.Option(..., "--out", "-o", help="the recording to write (.mcap)"),
    layout: str = typer.Option("auto", help="auto, tum or plain"),
    node: str = typer.Option("cam", help="the source node id the topics belong to (<node>/image, /depth, /camera)"),
    depth_scale: float | None = typer.Option(None, help="PNG depth units per metre (default 5000 TUM, 1000 plain)"),
    intrinsics: Path | None = typer.Option(None, help="YAML/JSON with fx, fy, cx, cy (default: the folder's)"),
    max_dt_ms: float = typer.Option(20.0, help="colour and depth frames further apart in time are not paired"),
    fps: float = typer.Option(30.0, min=0.001, help="the rate of a plain folder whose file names are frame numbers"),
    frames: int = typer.Option(0, min=0, help="import only the first N pairs (0: all)"),
    graph: Path | None = typer.Option(None, help="graph stored in the recording (default: graphs/rgbd.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Import an RGB-D folder: colour, depth in metres and intrinsics as `<node>/image`, `<node>/depth`
    and `<node>/camera`, on the folder's timestamps; `arp replay` plays it through graphs/rgbd.yaml."""
    from ar_perception.recording.import_rgbd import import_rgbd
    from ar_perception.rgbd import open_rgbd_folder

    if layout not in ("auto", "tum", "plain"):
        fail(ArpError(f"--layout must be auto, tum or plain (got {layout!r})"))
    text = _graph_text(graph, node=node)
    try:
        src = open_rgbd_folder(
            folder,
            layout=layout,  # type: ignore[arg-type]
            depth_scale=depth_scale,
            intrinsics=intrinsics,
            max_dt_s=max_dt_ms / 1000,
            fps=fps,
        )
        with _bar(quiet or as_json) as bar:
            task = bar.add_task("import", total=min(len(src.pairs), frames or len(src.pairs)))
            result = import_rgbd(
                src,
                out,
                node=node,
                graph=text,
                frames=frames,
                progress=lambda done, _: bar.update(task, completed=done),
            )
    except ArpError as e:
        fail(e)
    summary = {
        "recording": str(result.path),
        "layout": src.layout,
        "frames": result.frames,
        "skipped": result.skipped,
        "unpaired_rgb": result.unpaired_rgb,
        "unpaired_depth": result.unpaired_depth,
        "intrinsics": src.intrinsics,
        "notes": src.notes,
        "topics": [f"{node}/image", f"{node}/depth", f"{node}/camera"],
    }
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    console.print(
        f"{result.path}: {result.frames} frames ({src.layout} layout) on {node}/image, /depth and /camera; "
        f"{result.unpaired_rgb} colour and {result.unpaired_depth} depth frames had no partner within "
        f"{max_dt_ms:g} ms; {'; '.join(src.notes)}",
        highlight=False,
    )
    for line in result.skipped:
        err_console.print(f"skipped {line}", markup=False, highlight=False)


def rosbag(
    bag: Path = typer.Argument(..., help="a ROS 1 .bag file, or a ROS 2 bag folder (sqlite3 or MCAP storage)"),
    out: Path = typer.Option(..., "--out", "-o", help="the recording to write (.mcap)"),
    node: str = typer.Option("cam", help="the source node id the topics belong to (<node>/image, /depth, /camera)"),
    image_topic: str | None = typer.Option(None, help="the colour Image/CompressedImage topic (default: found)"),
    depth_topic: str | None = typer.Option(None, help="the depth image topic (default: the one named *depth*)"),
    camera_topic: str | None = typer.Option(None, help="the CameraInfo topic (default: next to the colour one)"),
    points_topic: str | None = typer.Option(None, help="the PointCloud2 topic (default: the only one)"),
    depth_mm_per_unit: float = typer.Option(1.0, help="millimetres per unit of 16-bit depth (1: millimetres)"),
    graph: Path | None = typer.Option(None, help="graph stored in the recording (default: graphs/rgbd.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Import a ROS bag's colour, depth, camera-info and point-cloud topics (sensor_msgs Image, CompressedImage,
    CameraInfo, PointCloud2) as `<node>/image`, `<node>/depth` (metres), `<node>/camera` and `<node>/points`, on
    the messages' header stamps."""
    from ar_perception.recording.import_rosbag import import_rosbag

    text = _graph_text(graph, node=node)
    try:
        with _bar(quiet or as_json) as bar:
            task = bar.add_task("import", total=None)
            result = import_rosbag(
                bag,
                out,
                node=node,
                image_topic=image_topic,
                depth_topic=depth_topic,
                camera_topic=camera_topic,
                points_topic=points_topic,
                depth_mm_per_unit=depth_mm_per_unit,
                graph=text,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except ArpError as e:
        fail(e)
    summary = {
        "recording": str(result.path),
        "messages": result.counts,
        "skipped": result.skipped,
        "not_imported": result.not_imported,
    }
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    written = ", ".join(f"{n} on {node}/{what}" for what, n in result.counts.items())
    console.print(f"{result.path}: {written}", highlight=False)
    if result.not_imported:
        console.print(f"not imported (other message types): {', '.join(result.not_imported)}", highlight=False)
    for line in result.skipped:
        err_console.print(f"skipped {line}", markup=False, highlight=False)


def realsense(
    recording: Path = typer.Argument(..., help="a RealSense recording (.bag, or .db3 from librealsense 2.59)"),
    out: Path = typer.Option(..., "--out", "-o", help="the recording to write (.mcap)"),
    node: str = typer.Option("cam", help="the source node id the topics belong to (<node>/image, /depth, /camera)"),
    graph: Path | None = typer.Option(None, help="graph stored in the recording (default: graphs/rgbd.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Import a RealSense recording through the SDK's playback: colour, depth aligned to colour (metres) and
    intrinsics as `<node>/image`, `<node>/depth` and `<node>/camera`, on the device's timestamps."""
    from ar_perception.recording.import_realsense import import_realsense

    text = _graph_text(graph, node=node)
    try:
        with _bar(quiet or as_json) as bar:
            task = bar.add_task("import", total=None)
            result = import_realsense(
                recording, out, node=node, graph=text, progress=lambda n: bar.update(task, completed=n)
            )
    except ArpError as e:
        fail(e)
    summary = {
        "recording": str(result.path),
        "frames": result.frames,
        "unpaired": result.unpaired,
        "dropped": result.dropped,
    }
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    console.print(
        f"{result.path}: {result.frames} framesets on {node}/image, /depth and /camera; "
        f"{result.unpaired} frames had no partner in the other stream, {result.dropped} colour frames were skipped",
        highlight=False,
    )


def video(
    file: Path = typer.Argument(..., help="a video file OpenCV can read (mp4, avi, mkv...)"),
    out: Path = typer.Option(..., "--out", "-o", help="the recording to write (.mcap)"),
    node: str = typer.Option("cam", help="the source node id the topics belong to (<node>/image, <node>/camera)"),
    hfov_deg: float | None = typer.Option(None, help="horizontal field of view giving the intrinsics (default 65)"),
    calibration: Path | None = typer.Option(None, help="OpenCV or ROS calibration file (frames are undistorted)"),
    size: str | None = typer.Option(None, help="WIDTHxHEIGHT to resize frames to (default: as in the file)"),
    fps: float | None = typer.Option(None, help="at most this many frames per second (default: every frame)"),
    graph: Path | None = typer.Option(None, help="graph stored in the recording (default: graphs/video.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Import a video file as `<node>/image` and `<node>/camera` (intrinsics from --hfov-deg or --calibration),
    on the video's own clock, through the `camera` node's file reading (undistortion and resizing included)."""
    from ar_perception.nodes.camera import Camera
    from ar_perception.recording.writer import RecordingWriter

    text = _graph_text(graph, VIDEO_GRAPH, node)
    params: dict[str, object] = {"source": str(file), "realtime": False}
    for key, value in (
        ("hfov_deg", hfov_deg),
        ("calibration", str(calibration) if calibration else None),
        ("fps", fps),
    ):
        if value is not None:
            params[key] = value
    if size is not None:
        try:
            width, height = (int(v) for v in size.lower().split("x"))
        except ValueError:
            fail(ArpError(f"--size must be WIDTHxHEIGHT, e.g. 320x240 (got {size!r})"))
        params["size"] = (width, height)
    if not file.is_file():
        fail(ArpError(f"{file}: no such video file"))
    try:
        cam = Camera(Camera.Params.model_validate(params), node_id=node)
        cam.setup()
        written = 0
        try:
            with (
                RecordingWriter(out, graph=text, metadata={"import.source": str(file)}) as w,
                _bar(quiet or as_json) as bar,
            ):
                task = bar.add_task("import", total=None)
                for produced in cam.produce():
                    if produced is None:
                        continue
                    t_ns = round(float(produced["image"].meta.get("video_time", written / 30)) * 1e9)
                    for output, msg in produced.items():
                        w.write(Msg(msg.kind, msg.arrays, msg.meta, t_ns, f"{node}/{output}", written, t_ns))
                    written += 1
                    bar.update(task, completed=written)
        finally:
            cam.teardown()
    except ArpError as e:
        fail(e)
    except ValueError as e:  # the camera node's parameters
        fail(ArpError(f"import video: {e}"))
    if not written:
        fail(ArpError(f"{file}: no frame could be read"))
    summary = {"recording": str(out), "frames": written, "topics": [f"{node}/image", f"{node}/camera"]}
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    console.print(f"{out}: {written} frames on {node}/image and {node}/camera", highlight=False)


def _graph_text(graph: Path | None, default: Path = DEFAULT_GRAPH, node: str = "cam") -> str:
    """The graph a recording stores: the file given, else `default` (in graphs/) where the repository has it,
    when its source id is `node` (`cam`); else none (`arp replay` then needs --graph)."""
    if graph is None and node != "cam":
        return ""
    path = graph or default
    if graph is not None and not path.is_file():
        fail(ArpError(f"{graph}: no such graph file"))
    try:
        return path.read_text() if path.is_file() else ""
    except OSError as e:
        fail(ArpError(f"{path}: cannot read the graph ({e.strerror or e})"))


def _bar(off: bool) -> Progress:
    return Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=off,
    )


def register(app: typer.Typer) -> None:
    import_app.command("rgbd")(rgbd)
    import_app.command("rosbag")(rosbag)
    import_app.command("realsense")(realsense)
    import_app.command("video")(video)
    app.add_typer(import_app, name="import")
