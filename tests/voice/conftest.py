import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ar_perception.audio import read_wav
from ar_perception.runtime.msg import Msg

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def audio_msgs(signal: np.ndarray, rate: int = 16000, chunk: int = 1600, last: bool = True) -> list[Msg]:
    """A signal as the Audio chunks a source sends, the last one marked."""
    out = []
    for i in range(0, len(signal), chunk):
        out.append(
            Msg(
                kind="Audio",
                arrays={"data": np.ascontiguousarray(signal[i : i + chunk], np.float32)},
                meta={"sample_rate": rate, "last": last and i + chunk >= len(signal)},
            )
        )
    return out


@pytest.fixture(scope="session")
def librivox() -> dict[str, tuple[Path, str]]:
    """{clip id: (wav path, reference transcript)} of Debian's pocketsphinx-testdata LibriVox clips."""
    if not (LIBRIVOX / "transcription").exists():
        pytest.skip("pocketsphinx-testdata is not installed (sudo apt-get install pocketsphinx-testdata)")
    refs = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text, _, cid = line.rpartition("(")
        refs[cid.strip(" )")] = (
            LIBRIVOX / f"{cid.strip(' )')}.wav",
            text.replace("<s>", "").replace("</s>", "").strip(),
        )
    return refs


@pytest.fixture(scope="session")
def speak(tmp_path_factory):
    """speak(text, rate=None) -> a mono WAV of espeak-ng saying it (cached per text), at espeak-ng's own rate
    (22,050 Hz) unless `rate` is given: read its rate from the file."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("speech")
    made: dict[str, Path] = {}

    def make(text: str, rate: int | None = None) -> Path:
        key = f"{text}|{rate}"
        if key not in made:
            path = folder / f"q{len(made)}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
            if rate is not None:
                from ar_perception.audio import resample, write_wav

                x, r = read_wav(path)
                write_wav(path, resample(x[:, 0], r, rate), rate)
            made[key] = path
        return made[key]

    return make


@pytest.fixture(scope="session")
def speech():
    from ar_perception.nodes.speech import Speech
    from ar_perception.runtime.harness import NodeHarness

    h = NodeHarness(Speech, {}, node_id="speech")
    yield h
    h.close()


@pytest.fixture(scope="session")
def vqa():
    from ar_perception.nodes.vqa import Vqa
    from ar_perception.runtime.harness import NodeHarness

    h = NodeHarness(Vqa, {}, node_id="vqa")
    yield h
    h.close()
