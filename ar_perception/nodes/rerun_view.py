"""A live view of any messages in Rerun (rerun-sdk): one 3-D world with the camera in it, on one timeline.

Layout (shared with `arp view`, which replays a recording through the same `RerunLayout`):

    world                       z up (the sim's world frame)
    world/camera                Transform3D: the camera pose (CameraInfo `pose`, camera-to-world)
    world/camera/image          Pinhole: the latest CameraInfo intrinsics (OpenCV axes: x right, y down)
    world/camera/image/NAME     Image, Depth (DepthImage, metres) and Mask (SegmentationImage + class labels)
    world/camera/NAME           PointCloud in the camera frame;  world/NAME: one with meta.frame "world"
    text/NAME                   Text and final Answers (TextLog)

NAME is the input name. Everything is logged on the timeline "capture" (each message's capture time).
"""

from __future__ import annotations

import colorsys
import math
import os
import shutil
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ar_perception.errors import MissingExtraError, NodeError
from ar_perception.kinds import check
from ar_perception.nodes._files import with_folder
from ar_perception.runtime.msg import Msg
from ar_perception.runtime.node import Node, Outputs

__all__ = ["RerunView", "RerunLayout", "SHOWN_KINDS", "TIMELINE", "class_colors"]

TIMELINE = "capture"
SHOWN_KINDS = ("Image", "Depth", "Mask", "PointCloud", "CameraInfo", "Text", "Answer")
WORLD, CAMERA, IMAGE_PLANE, TEXT = "world", "world/camera", "world/camera/image", "text"
_RATE_LIMITED = ("Image", "Depth", "Mask", "PointCloud")  # the heavy ones, at camera rates


def _rerun() -> Any:
    try:
        import rerun
    except ImportError:
        raise MissingExtraError("rerun-sdk", "viz") from None
    return rerun


def class_colors(n: int) -> np.ndarray:
    """(n, 3) uint8 distinct colours, the same for the same class id in every view."""
    hues = (np.arange(n) * 0.618033988749895) % 1.0  # golden-ratio steps spread any number of hues
    rgb = [colorsys.hsv_to_rgb(h, 0.65 if i % 2 else 0.85, 0.95) for i, h in enumerate(hues)]
    return (np.asarray(rgb).reshape(-1, 3) * 255).round().astype(np.uint8)


def _class_names(classes: Any) -> dict[int, str]:
    if isinstance(classes, Mapping):
        return {int(k): str(v) for k, v in classes.items()}
    return {i: str(c) for i, c in enumerate(classes or [])}


def _resize_nearest(a: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize (no blending of class ids or depths): (h, w, ...) -> (height, width, ...)."""
    h, w = a.shape[:2]
    if (w, h) == (width, height):
        return a
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return a[rows[:, None], cols[None, :]]


class RerunLayout:
    """Logs arp messages to a Rerun recording stream in the layout above, with a per-entity rate limit.

    `max_hz` limits each image, depth, mask and point-cloud entity to one message per 1/max_hz seconds of
    capture time (so replays thin out exactly as live runs do); camera poses, intrinsics and text are
    small and always logged. `logged` and `dropped` count messages per entity path.
    """

    def __init__(
        self, rec: Any, *, max_hz: float = 10.0, max_points: int = 0, owner: str = "rerun_view", log: Any = None
    ):
        self.rr = _rerun()
        self.rec = rec
        self.min_gap_ns = int(1e9 / max_hz) if max_hz > 0 else 0
        self.max_points = max_points
        self.owner = owner
        self.log = log
        self.logged: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.ignored: dict[str, int] = {}  # input name -> messages of a kind this view does not show
        self.malformed: dict[str, int] = {}  # input name -> messages that do not match their kind
        self._last_ns: dict[str, int] = {}
        self._pinhole: tuple[float, ...] | None = None
        self._classes: dict[str, dict[int, str]] = {}
        rec.log(WORLD, self.rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _due(self, path: str, capture_ns: int) -> bool:
        last = self._last_ns.get(path)
        # A capture time that goes back (a replay that loops) starts the entity's clock over.
        if last is not None and self.min_gap_ns and 0 <= capture_ns - last < self.min_gap_ns:
            self.dropped[path] = self.dropped.get(path, 0) + 1
            return False
        self._last_ns[path] = capture_ns
        return True

    def _put(self, path: str, *items: Any) -> None:
        for item in items:
            self.rec.log(path, item)
        self.logged[path] = self.logged.get(path, 0) + 1

    @property
    def resolution(self) -> tuple[int, int] | None:
        return None if self._pinhole is None else (int(self._pinhole[4]), int(self._pinhole[5]))

    def _fit(self, a: np.ndarray) -> np.ndarray:
        """A 2-D layer at the pinhole's resolution, so it lines up with the image and the 3-D frustum."""
        res = self.resolution
        return a if res is None else _resize_nearest(a, *res)

    # -- logging -------------------------------------------------------------------------------------
    def add(self, name: str, msg: Msg) -> bool:
        """Log one message that arrived on input `name`; False when it was left out."""
        rr, kind = self.rr, msg.kind
        if kind not in SHOWN_KINDS:
            if name not in self.ignored and self.log is not None:
                self.log.warning(
                    "node '%s': input '%s' carries %s messages, which a Rerun view does not show (it shows: %s)",
                    self.owner,
                    name,
                    kind,
                    ", ".join(SHOWN_KINDS),
                )
            self.ignored[name] = self.ignored.get(name, 0) + 1
            return False
        problem = check(kind, dict(msg.arrays), dict(msg.meta))
        if problem is not None:
            if name not in self.malformed and self.log is not None:
                self.log.warning("node '%s': input '%s': dropped a malformed message: %s", self.owner, name, problem)
            self.malformed[name] = self.malformed.get(name, 0) + 1
            return False
        if kind in ("Image", "Depth", "Mask"):
            path = f"{IMAGE_PLANE}/{name}"
        elif kind == "PointCloud":
            path = f"{WORLD}/{name}" if msg.meta.get("frame") == "world" else f"{CAMERA}/{name}"
        elif kind == "CameraInfo":
            path = CAMERA
        else:
            path = f"{TEXT}/{name}"
        if kind in _RATE_LIMITED and not self._due(path, msg.capture_ns):
            return False
        if kind == "Answer" and msg.meta.get("done") is False:
            return False  # a streamed answer is logged once, complete
        self.rec.set_time(TIMELINE, timestamp=np.datetime64(int(msg.capture_ns), "ns"))
        if kind == "Image":
            self._put(path, rr.Image(self._fit(msg.data), color_model="RGB"))
        elif kind == "Depth":
            self._put(path, rr.DepthImage(self._fit(msg.data), meter=1.0))
        elif kind == "Mask":
            self._mask(path, msg)
        elif kind == "PointCloud":
            self._points(path, msg)
        elif kind == "CameraInfo":
            self._camera(msg)
        else:
            self._put(path, rr.TextLog(str(msg.meta.get("text", "")), level="INFO"))
        return True

    def _mask(self, path: str, msg: Msg) -> None:
        rr = self.rr
        names = _class_names(msg.meta.get("classes"))
        if self._classes.get(path) != names:
            self._classes[path] = names
            colors = class_colors(max(names, default=-1) + 1)
            self.rec.log(
                path,
                rr.AnnotationContext(
                    [rr.AnnotationInfo(id=i, label=n, color=tuple(int(c) for c in colors[i])) for i, n in names.items()]
                ),
                static=True,
            )
        ids = msg.data
        if ids.dtype.kind == "i" or ids.dtype.itemsize > 2:  # signed or wide ids: the viewer's class ids are u16
            ids = np.clip(ids, 0, 65535).astype(np.uint16)
        self._put(path, rr.SegmentationImage(self._fit(ids)))

    def _points(self, path: str, msg: Msg) -> None:
        points = msg.arrays["points"]
        colors = msg.arrays.get("colors")
        if self.max_points and len(points) > self.max_points:
            step = math.ceil(len(points) / self.max_points)
            points = points[::step]
            colors = None if colors is None else colors[::step]
        self._put(path, self.rr.Points3D(points, colors=colors))

    def _camera(self, msg: Msg) -> None:
        rr, m = self.rr, msg.meta
        pose = msg.arrays.get("pose")
        if pose is not None:
            pose = np.asarray(pose, dtype=np.float64)
            self.rec.log(CAMERA, rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
        pinhole = tuple(float(m[k]) for k in ("fx", "fy", "cx", "cy", "width", "height"))
        if pinhole != self._pinhole:  # intrinsics rarely change: log them when they do
            self._pinhole = pinhole
            fx, fy, cx, cy, w, h = pinhole
            # Rerun puts pixel centres at +0.5; arp (OpenCV) at integer coordinates.
            self.rec.log(
                IMAGE_PLANE,
                rr.Pinhole(
                    focal_length=[fx, fy],
                    principal_point=[cx + 0.5, cy + 0.5],
                    resolution=[w, h],
                    camera_xyz=rr.ViewCoordinates.RDF,
                ),
            )
        self.logged[CAMERA] = self.logged.get(CAMERA, 0) + 1


def open_stream(
    mode: str,
    *,
    path: str | None = None,
    url: str | None = None,
    port: int = 9876,
    web_port: int = 9090,
    open_browser: bool = False,
    memory_limit: str = "25%",
    app_id: str = "arp",
) -> tuple[Any, str]:
    """A new Rerun recording stream sending to a viewer, a file or a server; and where it goes, in words."""
    rr = _rerun()
    if (
        mode == "spawn"
        and sys.platform.startswith("linux")
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        # Checked here: a viewer spawned without a screen dies, and the SDK waits for it for seconds.
        raise NodeError(
            "mode 'spawn' opens a viewer window, but this machine has no screen (neither DISPLAY "
            "nor WAYLAND_DISPLAY is set); save an .rrd file to open elsewhere, or serve the web "
            "viewer"
        )
    rec = rr.RecordingStream(app_id, recording_id=uuid.uuid4())
    rec.set_log_time_enabled(False)  # one timeline: capture time
    rec.set_log_tick_enabled(False)
    if mode == "save":
        assert path is not None
        out = with_folder(path)
        rec.save(str(out))
        return rec, f"the file {out}"
    if mode == "spawn":
        rr.sinks.spawn(port=port, memory_limit=memory_limit, executable_path=_viewer_executable(), recording=rec)
        return rec, f"a Rerun viewer on port {port}"
    if mode == "connect":
        _check_listening(url or "")
        rec.connect_grpc(url)
        return rec, f"the Rerun viewer at {url}"
    uri = rec.serve_grpc(grpc_port=port, server_memory_limit=memory_limit)
    rr.serve_web_viewer(web_port=web_port, open_browser=open_browser, connect_to=uri)
    return rec, f"the web viewer at http://localhost:{web_port}/?url={uri}"


def _check_listening(url: str) -> None:
    """Fail now, not after the run, when nothing listens at a viewer URL (the SDK would drop the data)."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 9876
    except ValueError:
        host = None
    if not host or not parts.scheme.startswith("rerun"):
        raise NodeError(f"'{url}' is not a Rerun viewer URL (expected rerun+http://HOST:PORT/proxy)")
    try:
        socket.create_connection((host, port), timeout=2.0).close()
    except OSError as e:
        raise NodeError(
            f"no Rerun viewer listens at {url} ({e.strerror or e}); start one first with: rerun --port {port}"
        ) from None


def _viewer_executable() -> str:
    """The `rerun` viewer: on PATH, or next to this Python (a virtual environment that is not activated)."""
    found = shutil.which("rerun") or shutil.which("rerun", path=str(Path(sys.executable).parent))
    if found is None:
        raise NodeError(
            "mode 'spawn' needs the Rerun viewer executable 'rerun', which is not on PATH; install "
            "it with: pip install 'ar-perception[viz]'"
        )
    return found


class RerunView(Node):
    """Shows its inputs in Rerun: images, masks, depth, point clouds, the camera pose, text and answers."""

    inputs = {"*": "Any"}

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        mode: Literal["spawn", "connect", "save", "serve"] = Field(
            "spawn",
            description="spawn a viewer, connect to a running one (url), save an .rrd file (path), or "
            "serve the web viewer (port, web_port; Rerun listens on all network interfaces)",
        )
        path: str | None = Field(
            None, description="the .rrd file to write (mode save; replaced if it exists; its folder is created)"
        )
        url: str = Field("rerun+http://127.0.0.1:9876/proxy", description="the viewer to send to (mode connect)")
        port: int = Field(
            9876, ge=1, le=65535, description="gRPC port of the spawned viewer or of the server (modes spawn, serve)"
        )
        web_port: int = Field(9090, ge=1, le=65535, description="HTTP port of the web viewer (mode serve)")
        open_browser: bool = Field(False, description="open the web viewer in a browser (mode serve)")
        max_hz: float = Field(
            10.0,
            ge=0,
            description="log each image, depth, mask and point cloud at most this "
            "often (by capture time), so memory stays bounded at camera rates; 0 = all",
        )
        max_points: int = Field(100_000, ge=0, description="thin point clouds to at most this many points; 0 = all")
        memory_limit: str = Field(
            "25%",
            description="memory a spawned viewer or the server keeps before "
            "dropping the oldest data (modes spawn, serve), e.g. '2GB' or '25%'",
        )
        app_id: str = Field("arp", description="Rerun application id (the viewer groups recordings by it)")

        @model_validator(mode="after")
        def _path_with_save(self) -> RerunView.Params:
            if self.mode == "save" and not self.path:
                raise ValueError("mode 'save' needs path: the .rrd file to write")
            if self.mode != "save" and self.path:
                raise ValueError(f"path is only used by mode 'save' (mode is '{self.mode}')")
            return self

    params: Params

    def setup(self) -> None:
        p = self.params
        try:
            rec, where = open_stream(
                p.mode,
                path=p.path,
                url=p.url,
                port=p.port,
                web_port=p.web_port,
                open_browser=p.open_browser,
                memory_limit=p.memory_limit,
                app_id=p.app_id,
            )
        except NodeError as e:
            field = {"save": "path", "connect": "url"}.get(p.mode, "mode")
            raise NodeError(f"node '{self.id}': params.{field}: {e}") from None
        except Exception as e:  # rerun raises plain RuntimeErrors (no viewer binary, port taken)
            raise NodeError(
                f"node '{self.id}': cannot start Rerun in mode '{p.mode}': {type(e).__name__}: {e}"
            ) from None
        if p.mode == "serve":
            # Rerun's servers take no bind address: they listen on every interface.
            self.log.warning(
                "node '%s': Rerun is at %s; ports %d and %d listen on all network interfaces, so "
                "anyone who can reach this machine can watch (use mode save or spawn on untrusted "
                "networks)",
                self.id,
                where,
                p.port,
                p.web_port,
            )
        self.rec = rec
        self.layout = RerunLayout(rec, max_hz=p.max_hz, max_points=p.max_points, owner=self.id, log=self.log)

    def on_input(self, name: str, msg: Msg) -> Outputs:
        self.layout.add(name, msg)
        return None

    def teardown(self) -> None:
        rec = getattr(self, "rec", None)
        if rec is None:
            return
        dropped = self.layout.dropped
        if dropped:
            self.log.info(
                "node '%s': rate limit (max_hz %g) left out %s",
                self.id,
                self.params.max_hz,
                ", ".join(f"{k}={v}" for k, v in dropped.items()),
            )
        try:
            rec.flush(timeout_sec=5.0)
        except RuntimeError as e:  # a viewer that went away
            self.log.warning("node '%s': the last messages did not reach Rerun: %s", self.id, e)
        rec.disconnect()  # closes (and finalizes) the .rrd file
        self.rec = None
