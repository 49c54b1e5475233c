"""Recordings: one MCAP file (https://mcap.dev/spec) per session, Foxglove schemas where they exist.

`RecordingWriter` writes, `RecordingReader` reads back every message exactly, `repair` recovers a file a crash
left without its footer, and `export_topic` turns a topic into PNG/MP4/PLY/WAV files. The message layout is
documented in `ar_perception.recording.codec`, the file layout in `ar_perception.recording.writer`.
"""

from ar_perception.recording.export import ExportResult, export_topic
from ar_perception.recording.reader import RecordingReader, TopicInfo
from ar_perception.recording.repair import RepairResult, repair
from ar_perception.recording.writer import FORMAT_VERSION, RecordingWriter

__all__ = [
    "FORMAT_VERSION",
    "RecordingWriter",
    "RecordingReader",
    "TopicInfo",
    "repair",
    "RepairResult",
    "export_topic",
    "ExportResult",
]
