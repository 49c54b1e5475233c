"""The typed query a question is parsed into, and the JSON schema that keeps an LLM parser to it.

A query names only known classes. A word the asker used for a thing that perception does not know goes to
`unknown`, verbatim: it is reported as unknown, never mapped onto a similar-looking class.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["INTENTS", "RELATIONS", "ATTRIBUTES", "COLOURS", "MAX_NUMBER", "Intent", "Relation", "Query", "query_schema"]

Intent = Literal[
    "exists",  # is there a chair?
    "count",  # how many chairs?
    "distance",  # how far is the chair?
    "where",  # where is the chair? (direction: left / ahead / right, and distance)
    "nearest",  # what is closest? / which chair is nearest?
    "colour",  # what colour is the chair?
    "size",  # how big / tall / wide is the table?
    "relation",  # what is left of the chair? is the ball on the table? what is between the chair and the lamp?
    # is the ball farther away than the table? (nearer_than / farther_than: from the camera)
    "list",  # what do you see?
    "describe",  # describe the room
    "last_seen",  # where did you last see the lamp? (needs memory)
    "behind",  # what is behind me? (needs memory with a pose)
    "unsupported",  # a question none of the above can answer
]
INTENTS: tuple[str, ...] = Intent.__args__  # type: ignore[attr-defined]

Relation = Literal[
    "left_of", "right_of", "in_front_of", "behind", "on", "next_to", "between", "nearer_than", "farther_than"
]
RELATIONS: tuple[str, ...] = Relation.__args__  # type: ignore[attr-defined]

ATTRIBUTES = ("size", "height", "width", "depth")

# colour words a question may qualify a noun with ("is there a RED chair?"; the measured palette is in qa/colour.py)
COLOURS = tuple(
    """red orange yellow green blue purple violet pink brown black white grey beige cyan magenta teal navy
    maroon olive gold silver turquoise tan cream""".split()
)
MAX_NUMBER = 100  # the largest number a question may ask about ("are there TWO chairs?")


class Query(BaseModel):
    """What a question asks. `subject`, `other` and `third` are known class names (or None); `unknown` holds
    the words that named things perception does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intent: Intent
    subject: str | None = None  # the class asked about ("chair"); None: anything ("what is nearest?")
    relation: Relation | None = None  # with intent "relation"
    other: str | None = None  # the class the relation refers to ("left of the TABLE")
    third: str | None = None  # the second reference of "between"
    attribute: str | None = None  # with intent "size": size, height, width or depth
    unknown: list[str] = Field(default_factory=list)  # words naming unknown things, as the asker said them
    colour: str | None = None  # a colour word qualifying the subject ("is there a RED chair?"): only that colour
    number: int | None = Field(default=None, ge=0, le=MAX_NUMBER)  # "are there TWO chairs?": asks for that count

    def classes(self) -> list[str]:
        return [c for c in (self.subject, self.other, self.third) if c]


def query_schema(classes: list[str]) -> dict[str, Any]:
    """The JSON schema of a Query whose class fields may only name `classes` (for llama.cpp's grammar)."""
    known: dict[str, Any] = {"anyOf": [{"type": "string", "enum": sorted(set(classes))}, {"type": "null"}]}
    return {
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": list(INTENTS)},
            "subject": known,
            "relation": {"anyOf": [{"type": "string", "enum": list(RELATIONS)}, {"type": "null"}]},
            "other": known,
            "third": known,
            "attribute": {"anyOf": [{"type": "string", "enum": list(ATTRIBUTES)}, {"type": "null"}]},
            "unknown": {"type": "array", "items": {"type": "string"}},
            "colour": {"anyOf": [{"type": "string", "enum": list(COLOURS)}, {"type": "null"}]},
            "number": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_NUMBER}, {"type": "null"}]},
        },
        "required": ["intent", "subject", "relation", "other", "third", "attribute", "unknown", "colour", "number"],
        "additionalProperties": False,
    }
