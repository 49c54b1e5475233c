"""English for answers: plurals, "a"/"an", number words, lists, and lengths and times said in words.

Small on purpose: it covers the class names perception knows and the nouns an asker uses for things it
does not know (which are only repeated back, pluralised), not English at large.
"""

from __future__ import annotations

__all__ = [
    "article",
    "capitalise",
    "count_phrase",
    "is_are",
    "is_plural",
    "join",
    "length",
    "number_word",
    "Tally",
    "plural",
    "said_plural",
    "time_ago",
    "with_article",
]

_IRREGULAR = {
    "person": "people",
    "man": "men",
    "woman": "women",
    "child": "children",
    "mouse": "mice",
    "foot": "feet",
    "tooth": "teeth",
    "goose": "geese",
    "ox": "oxen",
    "quiz": "quizzes",
    # -f/-fe -> -ves only where English does it (roofs, chiefs, safes keep -s)
    "shelf": "shelves",
    "leaf": "leaves",
    "loaf": "loaves",
    "half": "halves",
    "calf": "calves",
    "wolf": "wolves",
    "thief": "thieves",
    "knife": "knives",
    "wife": "wives",
    "life": "lives",
    "scarf": "scarves",
    "self": "selves",
    # -o -> -oes for these; other -o nouns take -s (photos, pianos, radios)
    "potato": "potatoes",
    "tomato": "tomatoes",
    "hero": "heroes",
    "echo": "echoes",
    "volcano": "volcanoes",
}
_INVARIANT = frozenset({"sheep", "fish", "deer", "series", "species", "aircraft", "furniture", "equipment"})
_IRREGULAR_PLURALS = frozenset(_IRREGULAR.values())

# "an" before a vowel sound: these start with a vowel letter but a consonant sound, or the reverse
_A_BEFORE_VOWEL_LETTER = ("uni", "use", "usu", "uti", "ure", "uro", "eu", "ewe", "one", "once")
_AN_BEFORE_H = ("hour", "honest", "honour", "honor", "heir")

_DETERMINERS = frozenset({"a", "an", "the", "some", "any", "my", "your", "this", "that", "these", "those"})
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _split_last(phrase: str) -> tuple[str, str]:
    """("fire ", "truck") for "fire truck": a compound noun is inflected on its last word."""
    head, _, last = phrase.rpartition(" ")
    return (head + " " if head else ""), last


def _match_case(template: str, word: str) -> str:
    return word.capitalize() if template[:1].isupper() else word


def plural(noun: str) -> str:
    """The plural of a singular noun: box -> boxes, shelf -> shelves, person -> people, fire truck -> fire trucks."""
    head, word = _split_last(noun)
    low = word.lower()
    if low in _INVARIANT:
        return noun
    if low in _IRREGULAR:
        return head + _match_case(word, _IRREGULAR[low])
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return head + word + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        return head + word[:-1] + "ies"
    return head + word + "s"


def is_plural(noun: str) -> bool:
    """Whether a noun as someone said it already reads as a plural ("cars", "people"); a guess for nouns this
    module does not know, used only to repeat a word back without making it "carses"."""
    low = _split_last(noun)[1].lower()
    if low in _IRREGULAR_PLURALS or low in _INVARIANT:
        return True
    if low in _IRREGULAR:
        return False
    return low.endswith("s") and not low.endswith(("ss", "us", "is"))


def said_plural(noun: str) -> str:
    """A noun as the asker said it, in the plural: "car" -> "cars", "cars" stays "cars", "fire truck" -> "fire
    trucks". A longer phrase is no noun to inflect: it keeps its words, after "a"/"an" if it has no determiner
    ("a man with a hat")."""
    words = noun.split()
    if len(words) > 2:
        return noun if words[0].lower() in _DETERMINERS else with_article(noun)
    return noun if is_plural(noun) else plural(noun)


def article(noun: str) -> str:
    """ "a" or "an", by the sound the noun starts with: an apple, a unicorn, an hour."""
    low = noun.lower()
    if low.startswith(_AN_BEFORE_H):
        return "an"
    if low.startswith(_A_BEFORE_VOWEL_LETTER):
        return "a"
    return "an" if low[:1] in ("a", "e", "i", "o", "u") else "a"


def with_article(noun: str) -> str:
    return f"{article(noun)} {noun}"


class Tally(int):
    """A count that may be a lower bound: an int, with `at_least` set when something counted as one may be
    several (a region too big to be one object of its class, a pile cut by the image's edge, bookcases in a row
    cut by its side). Said as "at least
    three", "at least one"."""

    at_least: bool

    def __new__(cls, n: int, at_least: bool = False) -> Tally:
        tally = super().__new__(cls, n)
        tally.at_least = at_least and n > 0
        return tally


def number_word(n: int) -> str:
    """Zero to ten in words, larger numbers in digits; "at least three" for a Tally that is a lower bound."""
    word = _NUMBER_WORDS[n] if 0 <= n <= 10 else str(n)
    return f"at least {word}" if getattr(n, "at_least", False) else word


def count_phrase(noun: str, n: int) -> str:
    """`n` of `noun`: "no chairs", "a chair", "two chairs", "12 chairs"."""
    if n == 0:
        return f"no {plural(noun)}"
    if n == 1:
        return f"{number_word(n)} {noun}" if getattr(n, "at_least", False) else with_article(noun)
    return f"{number_word(n)} {plural(noun)}"


def is_are(n: int) -> str:
    return "is" if n == 1 else "are"


def join(items: list[str], conjunction: str = "and") -> str:
    """ "a table, two chairs and a lamp": commas, and the conjunction before the last item."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _unit(n: int | str, singular: str) -> str:
    return f"{n} {singular}" if str(n) == "1" else f"{n} {singular}s"


def length(metres: float) -> str:
    """A length as said: "2.1 metres", "1 metre", "80 centimetres" (below a metre, to 10 cm, as above it to
    0.1 m), "4 centimetres" (below 10 cm, to 1 cm), "less than 1 centimetre"."""
    tenths = round(metres * 10)
    if tenths >= 10:
        whole, tenth = divmod(tenths, 10)
        return _unit(whole if tenth == 0 else f"{whole}.{tenth}", "metre")
    if tenths >= 1:
        return _unit(tenths * 10, "centimetre")
    cm = round(metres * 100)
    return _unit(cm, "centimetre") if cm >= 1 else "less than 1 centimetre"


def time_ago(seconds: float) -> str:
    """How long ago, as said: "just now", "12 seconds ago", "3 minutes ago", "2 hours ago"."""
    if seconds < 0.5:
        return "just now"
    if round(seconds) < 60:
        return _unit(round(seconds), "second") + " ago"
    if round(seconds / 60) < 60:
        return _unit(round(seconds / 60), "minute") + " ago"
    return _unit(round(seconds / 3600), "hour") + " ago"
