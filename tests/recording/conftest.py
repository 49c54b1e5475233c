import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from ar_perception import Msg
from ar_perception.errors import RecordingError
from ar_perception.recording import RecordingReader

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "recordings" / "sample.mcap"


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_sample_recording", REPO / "scripts" / "make_sample_recording.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def sample_script():
    return _script()


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Path:
    """The bundled sample session; generated (deterministically) when the repository does not hold it."""
    try:
        RecordingReader(SAMPLE)
        return SAMPLE
    except RecordingError:
        if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
            pytest.skip("recordings/sample.mcap is missing and espeak-ng/sox are not installed to make it")
        out = tmp_path_factory.mktemp("sample") / "sample.mcap"
        import subprocess
        import sys

        subprocess.run(
            [sys.executable, str(REPO / "scripts" / "make_sample_recording.py"), "-o", str(out)],
            check=True,
            capture_output=True,
        )
        return out


def same(a: Msg, b: Msg, *, topic: bool = True, publish: bool = True) -> None:
    """Assert two messages are identical: envelope, metadata and every array bit for bit."""
    assert (a.kind, dict(a.meta), a.capture_ns, a.seq) == (b.kind, dict(b.meta), b.capture_ns, b.seq)
    if publish:
        assert a.publish_ns == b.publish_ns
    if topic:
        assert a.topic == b.topic
    assert list(a.arrays) == list(b.arrays)
    for k in a.arrays:
        x, y = np.asarray(a.arrays[k]), np.asarray(b.arrays[k])
        assert (x.dtype.str, x.shape) == (y.dtype.str, y.shape), k
        assert x.tobytes() == y.tobytes(), k
