"""One exception tree for every error a user can cause or meet."""

from __future__ import annotations

__all__ = [
    "ArpError",
    "GraphError",
    "NodeError",
    "TransportError",
    "ModelError",
    "RecordingError",
    "MissingExtraError",
]


class ArpError(Exception):
    """Base of every error raised by ar-perception on purpose."""


class GraphError(ArpError):
    """A graph file is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class NodeError(ArpError):
    """A node failed: bad parameters, a crash in setup, or bad data in strict mode."""


class TransportError(ArpError):
    """A message could not be encoded, decoded, sent or received."""


class ModelError(ArpError):
    """A model or its weights could not be found, loaded or run."""


class RecordingError(ArpError):
    """A recording file is missing, truncated, corrupt or of an unknown version."""


class MissingExtraError(ArpError, ImportError):
    """An optional dependency is not installed; the message says how to install it."""

    def __init__(self, module: str, extra: str):
        super().__init__(
            f"this feature needs the Python package '{module}', which is not installed; "
            f"install it with: pip install 'ar-perception[{extra}]'"
        )
