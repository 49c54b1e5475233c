import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ar_perception import Msg
from ar_perception.errors import RecordingError
from ar_perception.recording import RecordingReader

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "recordings" / "sample.mcap"


def make_sample(out: Path, why: str) -> Path:
    """Run scripts/make_sample_recording.py to write the sample session to `out`; skip (saying `why` it was
    wanted) where espeak-ng or sox, which speak the question, are not installed."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip(f"{why}, and espeak-ng/sox are not installed to make the sample session")
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_sample_recording.py"), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Path:
    """The bundled sample session; generated when the repository does not hold it."""
    try:
        RecordingReader(SAMPLE)
        return SAMPLE
    except RecordingError:
        return make_sample(tmp_path_factory.mktemp("sample") / "sample.mcap", "recordings/sample.mcap is missing")


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
