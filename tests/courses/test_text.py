"""``courses.text``: what a single line may hold, the message when it may not, and the defences
renderers apply to text nobody checked."""

import unicodedata
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from courses import text
from tests.factories import make_offering

ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Ana\r\nBcc: x@example.org", "keep this on one line: it contains a line break "
         "(CARRIAGE RETURN (U+000D))"),
        ("Ana\nMaría", "LINE FEED (U+000A)"),
        ("Ana\u2028María", "LINE SEPARATOR (U+2028)"),
        ("Ana\x85", "NEXT LINE (U+0085)"),
        ("Ana\tMaría", "This contains a tab"),
        ("Ana\x1b[31m", "invisible character (ESCAPE (U+001B))"),
        ("Ana\x00", "invisible character (U+0000)"),
        ("Ana\u202eanA", "invisible character (RIGHT-TO-LEFT OVERRIDE (U+202E))"),
        ("Ana\u200bMaría", "invisible character (ZERO WIDTH SPACE (U+200B))"),
        ("Ana\ufeff", "ZERO WIDTH NO-BREAK SPACE (U+FEFF)"),
        ("An\u200dna", "ZERO WIDTH JOINER (U+200D)"),
        ("Ana\u00adMaría", "SOFT HYPHEN (U+00AD)"),
        ("Ana\ue000", "U+E000"),
    ],
)  # fmt: skip
def test_single_line_refuses_with_a_message_naming_the_character(value, message):
    with pytest.raises(ValidationError) as refused:
        text.single_line(value)
    assert message in refused.value.messages[0]


@pytest.mark.parametrize(
    "value",
    [
        "Zoë O'Brien-Smith", "محمد", "שלום", "李小龍", "e\u0301", "<script>", "=1+1",
        "👩\u200d💻",  # an emoji ZWJ sequence (UTS #51)
        "👩🏽\u200d🚒",  # with a skin-tone modifier
        "🏳\ufe0f\u200d🌈",  # presentation selector, then a joiner
        "❤\ufe0f", "1\ufe0f\u20e3",  # emoji presentation, a keycap
        "क्\u200dष",  # Devanagari: a joiner after a virama (RFC 5892 A.2)
        "می\u200cخواهم",  # Persian: a non-joiner between letters (RFC 5892 A.1)
        "",
    ],
)  # fmt: skip
def test_single_line_keeps_what_writing_needs(value):
    text.single_line(value)
    assert text.one_line(value) == value


@given(ANY_TEXT)
def test_one_line_leaves_nothing_single_line_refuses(value):
    cleaned = text.one_line(value)
    text.single_line(cleaned)
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert text.one_line(cleaned) == cleaned


@given(ANY_TEXT)
def test_multi_line_keeps_lines_and_tabs_and_drops_other_controls(value):
    cleaned = text.multi_line(value)
    assert "\r" not in cleaned
    assert all(c in "\n\t" or unicodedata.category(c) != "Cc" for c in cleaned)
    assert text.multi_line(cleaned) == cleaned
    ends_broken = value.endswith(tuple(text.LINE_BREAKS))
    breaks = len(value.splitlines()) - 1 + ends_broken if value else 0
    assert cleaned.count("\n") == breaks  # each break (CR LF counts once) is one line feed


def test_multi_line_makes_every_line_break_a_line_feed():
    assert text.multi_line("a\r\nb\rc\u2028d\x0be\x1b[0mf\n") == "a\nb\nc\nd\ne[0mf\n"


@given(ANY_TEXT, st.integers(1, 50))
def test_truncate_cuts_to_the_limit_with_an_ellipsis(value, limit):
    cut = text.truncate(value, limit)
    assert len(cut) <= limit
    assert cut == value if len(value) <= limit else cut.endswith(text.ELLIPSIS)


def test_truncate_refuses_a_limit_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        text.truncate("abc", 0)


def test_describe_names_a_character():
    assert text.describe("\u200b") == "ZERO WIDTH SPACE (U+200B)"
    assert text.describe("\x07") == "U+0007"


@pytest.mark.parametrize(
    "value",
    [
        "https://meet.example.org/j/123?pwd=a%20b",
        "http://zoom.example.org/j/1",
        "HTTPS://Teams.Example.org/l/meetup-join/19%3a",
    ],
)
def test_web_link_keeps_web_links(value):
    assert text.web_link(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "JavaScript://%0Aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://meet.example.org/\nBcc: x@example.org",
        "https://meet.example.org/a b",
        "https://meet.example.org/\u202eevil",
        "https:",
        "https://",
        "meet.example.org/j/1",
        "",
        None,
    ],
)
def test_web_link_refuses_what_a_browser_would_not_open_as_a_page(value):
    assert text.web_link(value) == ""


@pytest.mark.django_db
def test_an_offering_shows_only_a_web_link_to_attendees(course):
    offering = make_offering(course, date(2027, 3, 18))
    offering.meeting_url = "javascript:alert(document.cookie)"  # stored before validation
    assert offering.join_url == ""
    offering.meeting_url = "https://meet.example.org/j/1"
    assert offering.join_url == "https://meet.example.org/j/1"


@pytest.mark.parametrize(
    "value",
    ["Break at 11.\nBring water.", "Tab\there", "עברית \u200f and \u2067isolated\u2069", "👩‍💻 ok"],
)
def test_running_text_keeps_line_breaks_tabs_marks_and_isolates(value):
    text.running_text(value)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("pay \u202eevil\u202c here", "RIGHT-TO-LEFT OVERRIDE (U+202E)"),
        ("bell\x07", "U+0007"),
        ("nul\x00", "U+0000"),
        ("\u202aembedded", "LEFT-TO-RIGHT EMBEDDING (U+202A)"),
    ],
)
def test_running_text_refuses_controls_and_bidi_overrides(value, named):
    with pytest.raises(ValidationError) as refusal:
        text.running_text(value)
    assert named in refusal.value.messages[0]


def test_a_multi_line_field_counts_a_line_break_once_as_the_browser_does():
    field = text.MultiLineField(max_length=5)
    assert field.clean("ab\r\ncd") == "ab\ncd"  # 5 characters, as the browser counted
    assert field.clean("a\rb") == "a\nb"
    with pytest.raises(ValidationError):
        field.clean("ab\r\ncde")
