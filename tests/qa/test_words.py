"""The English of answers: plurals, articles, number words, lists, lengths and times."""

import pytest

from ar_perception.qa import words
from ar_perception.qa.words import (
    article,
    count_phrase,
    is_plural,
    join,
    length,
    number_word,
    plural,
    said_plural,
    time_ago,
    with_article,
)


def test_the_public_names_are_pinned():
    assert sorted(words.__all__) == [
        "Tally",
        "article",
        "capitalise",
        "count_phrase",
        "is_are",
        "is_plural",
        "join",
        "length",
        "number_word",
        "plural",
        "said_plural",
        "time_ago",
        "with_article",
    ]


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("chair", "chairs"),
        ("box", "boxes"),
        ("glass", "glasses"),
        ("bench", "benches"),
        ("dish", "dishes"),
        ("bus", "buses"),
        ("shelf", "shelves"),
        ("knife", "knives"),
        ("roof", "roofs"),  # -f -> -ves only where English does it
        ("person", "people"),
        ("child", "children"),
        ("mouse", "mice"),
        ("toy", "toys"),
        ("battery", "batteries"),
        ("potato", "potatoes"),
        ("piano", "pianos"),
        ("sheep", "sheep"),
        ("fire truck", "fire trucks"),
        ("coffee table", "coffee tables"),
        ("Person", "People"),
    ],
)
def test_plural(noun, expected):
    assert plural(noun) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("car", "cars"),
        ("cars", "cars"),  # already plural: not "carses"
        ("people", "people"),
        ("bus", "buses"),  # -us is a singular
        ("glass", "glasses"),
        ("mice", "mice"),
        ("fire truck", "fire trucks"),
        ("man with a hat", "a man with a hat"),  # a phrase is no noun to inflect
        ("the red thing on top", "the red thing on top"),
        ("umbrella with holes", "an umbrella with holes"),
    ],
)
def test_a_word_said_is_repeated_back_in_the_plural(said, expected):
    assert said_plural(said) == expected


def test_is_plural():
    assert is_plural("cars") and is_plural("people") and is_plural("shelves")
    assert not is_plural("car") and not is_plural("bus") and not is_plural("glass") and not is_plural("person")


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("apple", "an"),
        ("umbrella", "an"),
        ("egg", "an"),
        ("chair", "a"),
        ("unicorn", "a"),  # a vowel letter, a consonant sound
        ("user", "a"),
        ("one-way sign", "a"),
        ("hour glass", "an"),  # a silent h
        ("house", "a"),
        ("Apple", "an"),
    ],
)
def test_article(noun, expected):
    assert article(noun) == expected
    assert with_article(noun) == f"{expected} {noun}"


def test_number_words_up_to_ten_then_digits():
    assert [number_word(n) for n in (0, 1, 2, 7, 10, 11, 42)] == ["zero", "one", "two", "seven", "ten", "11", "42"]


def test_count_phrase():
    assert count_phrase("chair", 0) == "no chairs"
    assert count_phrase("apple", 1) == "an apple"
    assert count_phrase("shelf", 2) == "two shelves"
    assert count_phrase("person", 3) == "three people"
    assert count_phrase("box", 12) == "12 boxes"


def test_join():
    assert join([]) == ""
    assert join(["a table"]) == "a table"
    assert join(["a table", "two chairs"]) == "a table and two chairs"
    assert join(["a table", "two chairs", "a lamp"]) == "a table, two chairs and a lamp"
    assert join(["cars", "bikes"], "or") == "cars or bikes"


@pytest.mark.parametrize(
    ("metres", "said"),
    [
        (2.13, "2.1 metres"),
        (2.17, "2.2 metres"),
        (1.5, "1.5 metres"),
        (1.0, "1 metre"),
        (1.02, "1 metre"),
        (0.97, "1 metre"),  # rounds up to a metre: not "100 centimetres"
        (12.0, "12 metres"),
        (3.0, "3 metres"),
        (0.83, "80 centimetres"),  # below a metre to 10 cm, as above it to 0.1 m
        (0.87, "90 centimetres"),
        (0.12, "10 centimetres"),
        (0.04, "4 centimetres"),
        (0.011, "1 centimetre"),
        (0.003, "less than 1 centimetre"),
    ],
)
def test_length(metres, said):
    assert length(metres) == said


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.2, "just now"),
        (-3.0, "just now"),  # a clock that went back: no negative time is said
        (1.2, "1 second ago"),
        (12.4, "12 seconds ago"),
        (59.7, "1 minute ago"),
        (125.0, "2 minutes ago"),
        (3599.0, "1 hour ago"),
        (7300.0, "2 hours ago"),
    ],
)
def test_time_ago(seconds, said):
    assert time_ago(seconds) == said


def test_a_tally_that_is_a_lower_bound_is_said_as_at_least():
    assert number_word(words.Tally(3, at_least=True)) == "at least three"
    assert count_phrase("box", words.Tally(2, at_least=True)) == "at least two boxes"
    assert number_word(words.Tally(3)) == "three" and words.Tally(3) == 3
    assert count_phrase("box", words.Tally(1, at_least=True)) == "at least one box"  # a pile cut by the edge
    assert count_phrase("box", words.Tally(1)) == "a box"
    assert not words.Tally(0, at_least=True).at_least  # none is never a lower bound
