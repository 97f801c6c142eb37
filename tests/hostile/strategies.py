"""Hypothesis strategies for hostile text: what people paste, and what attackers type.

``hostile_text`` joins pieces drawn from ``PIECES`` (line breaks, tabs and other C0/C1 controls,
bidi and zero-width marks, emoji sequences, combining marks, other scripts, spreadsheet formulas,
HTML and Django template syntax, email header and iCalendar syntax, URLs) with arbitrary Unicode
text, and sometimes starts it with a formula character or pads it to the field's maximum length.
``stored`` excludes NUL (PostgreSQL text cannot hold U+0000, so no row has one); the input
strategies keep it (forms must refuse it with a message).
"""

from hypothesis import strategies as st

PIECES: dict[str, list[str]] = {
    "line breaks": ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x1c", "\x1e"],
    "controls": ["\t", "\x01", "\x07", "\x08", "\x1b[31m", "\x7f", "\x80", "\x9b", "\x9f"],
    "invisible": [
        "\u202e", "\u202d", "\u202a", "\u2066", "\u2067", "\u2069", "\u200e", "\u200f",
        "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e",
        "\u3164", "\U000e0001", "\ue000", "\U0010ffff",
    ],
    "emoji": ["👩‍💻", "🇺🇸", "❤️", "👍🏽", "🧑‍🚒", "1️⃣", "🏳️‍🌈", "😀"],
    "combining": ["e\u0301", "Z\u0337\u0322\u031b", "\u0301\u0301\u0301", "\u20dd", "Å"],
    "scripts": [
        "Ana María", "Zoë O'Brien-Smith", "محمد", "שלום", "हिन्दी", "क्\u200dष",
        "می\u200cخواهم", "李小龍", "Ωμέγα", "ǅ", "ß", "İ", "ﬁ", "Ｆｕｌｌ",
    ],
    "formula": [
        "=", "+", "-", "@", "=1+1", '=HYPERLINK("http://evil.example","x")',
        "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
    ],
    "markup": [
        "<script>hostile()</script>", "<hostile-tag>", "</textarea><hostile-tag>",
        '"><hostile-tag x="', "'><hostile-tag x='", "<img src=x onerror=hostile()>",
        "</title><hostile-tag>", "<style>*{}</style>", "&amp;", "&lt;", "&#x3C;", "&", "<!--",
        "-->", "<![CDATA[", "]]>", "<", ">", '"', "'", "`",
    ],
    "template": [
        "{{", "}}", "{%", "%}", "{#", "#}", "{{ settings.SECRET_KEY }}", "{% now 'Y' %}",
        "{% csrf_token %}", "{first_name}", "{", "}", "%s", "%(x)s", "${x}",
    ],
    "structure": [
        "Bcc: hostile@example.org", "\r\nBcc: hostile@example.org", "Subject: hostile",
        "=?utf-8?q?hostile?=", "BEGIN:VEVENT", "\r\nEND:VEVENT\r\n", "END:VCALENDAR", ";", ",",
        ":", "\\", "\\n", "^", '""', ",,,", '"\r\n"', 'a,"b"\r\nc',
    ],
    "urls": [
        "https://evil.example/?a=1&b=2", "www.example.org", "mailto:x@example.org",
        "javascript:hostile()", "http://[::1]/",
    ],
}  # fmt: skip
ALL_PIECES = [piece for pieces in PIECES.values() for piece in pieces]
FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r", " =", "\n="]


def _characters(*, nul: bool) -> st.SearchStrategy[str]:
    return st.characters(exclude_categories=("Cs",), exclude_characters="" if nul else "\x00")


@st.composite
def hostile_text(draw, max_size: int, *, nul: bool = False, min_size: int = 1) -> str:
    """Text of ``min_size`` to ``max_size`` characters (code points, as the database counts)
    made of hostile pieces and arbitrary characters; a third of the time padded to exactly
    ``max_size``, a third of the time starting with a formula character."""
    piece = st.one_of(
        st.sampled_from(ALL_PIECES + (["\x00"] if nul else [])),
        st.text(_characters(nul=nul), min_size=1, max_size=6),
    )
    text = "".join(draw(st.lists(piece, min_size=1, max_size=10)))
    shape = draw(st.sampled_from(["mixed", "longest", "formula"]))
    if shape == "formula":
        text = draw(st.sampled_from(FORMULA_STARTS)) + text
    elif shape == "longest":
        text = (text * (max_size // len(text) + 1))[:max_size]
    text = text[:max_size]
    return text if len(text) >= min_size else (text + "x" * min_size)[:max_size]


def stored(max_size: int, *, min_size: int = 1) -> st.SearchStrategy[str]:
    """Hostile text a row can hold (no NUL)."""
    return hostile_text(max_size, min_size=min_size)


def typed(max_size: int) -> st.SearchStrategy[str]:
    """Hostile text as a form receives it (NUL included)."""
    return hostile_text(max_size, nul=True)


PLACEHOLDERS = [
    "{first_name}", "{last_name}", "{course_title}", "{offering_dates}", "{manage_url}",
    "{meeting_url}",
]  # fmt: skip


def escape_braces(text: str) -> str:
    """``text`` with every brace doubled: literal braces in a broadcast's subject or body
    (``registrations.messaging.broadcasts``)."""
    return text.replace("{", "{{").replace("}", "}}")


@st.composite
def broadcast_text(draw, max_size: int) -> str:
    """Hostile staff text for a broadcast that it accepts: literal braces doubled, and known
    placeholders put in."""
    parts = draw(
        st.lists(
            st.one_of(
                stored(max(max_size // 4, 1)).map(escape_braces),
                st.sampled_from(PLACEHOLDERS),
            ),
            min_size=1,
            max_size=6,
        )
    )
    text = ""
    for part in parts:  # cut between parts, never inside a placeholder or a doubled brace
        if len(text) + len(part) > max_size:
            break
        text += part
    return text or "x"


def url_with(max_size: int) -> st.SearchStrategy[str]:
    """A meeting link as an older row may hold it: an https URL followed by hostile text."""
    prefix = "https://meet.example.org/"
    return stored(max_size - len(prefix)).map(lambda rest: prefix + rest)
