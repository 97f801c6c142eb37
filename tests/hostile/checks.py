"""Structure checks: what each kind of output must still be, whatever text went into it.

Each check parses the output back with the reader its consumers use (Python's HTML parser, the
email parser, icalendar, the csv module) and fails with what it found: an injected element or
event handler, an inline script on a public page, a header line that is not ours, a calendar
content line that does not parse, a cell a spreadsheet would run as a formula, a Stripe
parameter over its limit.
"""

import csv
import io
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser

from django.utils.html import escape
from icalendar import Calendar
from openpyxl import load_workbook
from pypdf import PdfReader

from courses.calendar import common_name
from courses.text import multi_line, one_line, refused_characters
from registrations.admin.guards import safe_cell

# The headers citreg's messages carry; anything else was injected.
EMAIL_HEADERS = frozenset(
    {
        "content-type", "mime-version", "content-transfer-encoding", "subject", "from", "to",
        "reply-to", "date", "message-id", "content-disposition",
    }
)  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Stripe's limits (https://docs.stripe.com/metadata): keys of at most 40 characters without
# square brackets, values of at most 500; at most 50 keys. A product name is shown on the
# checkout page: citreg keeps it to one line of at most ``PRODUCT_NAME_MAX`` characters.
STRIPE_METADATA_KEYS = 50
STRIPE_KEY_MAX = 40
STRIPE_VALUE_MAX = 500
PRODUCT_NAME_MAX = 250


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside ``<script>`` elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def elements(html: str) -> _Elements:
    """Parse ``html`` (never raises: the parser is lenient, as browsers are)."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def check_html(html: str, *, public: bool = False, shown: Iterable[str] = ()) -> None:
    """No element, attribute or script came from the text; ``shown`` values appear escaped.

    A public page also keeps the Content-Security-Policy rule of no inline script or style
    (``docs/architecture.md``, "Headers and caching"): every ``<script>`` has a ``src``, and
    there is no ``<style>`` element and no ``style`` attribute.
    """
    parsed = elements(html)
    for tag, attrs in parsed.elements:
        assert not tag.startswith("hostile"), f"injected element <{tag}>"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name}={value!r} on <{tag}>"
            assert "hostile" not in name, f"injected attribute {name} on <{tag}>"
            if name in ("href", "src", "action") and value:
                scheme = "".join(value.split()).lower()
                assert not scheme.startswith("javascript:"), f"{name}={value!r} on <{tag}>"
        if public:
            assert tag != "style", "inline <style> on a public page"
            assert "style" not in attrs, f"inline style on <{tag}> on a public page"
            assert tag != "script" or attrs.get("src"), "inline <script> on a public page"
    assert not any("hostile" in text for text in parsed.script_text), "text inside a <script>"
    for value in shown:
        if value.strip():  # (the admin strips a value, and shows "-" for a blank one)
            assert escape(value.strip()) in html, f"{value!r} is not shown as typed (escaped)"


def check_email(
    message: EmailMessage | bytes, *, to_email: str, to_name: str, subject: str
) -> EmailMessage:
    """The message parses back with exactly citreg's headers, each on one line of visible text,
    one recipient (``to_name`` on one line, ``to_email``), the ``subject`` (one line, at most 200
    characters), a text and an HTML body; the HTML has no injected markup, the text no control
    characters, no raw line longer than RFC 5322's 998 octets. Returns the parsed message."""
    raw = message if isinstance(message, bytes) else message.as_bytes()
    for line in raw.split(b"\n"):
        assert len(line.rstrip(b"\r")) <= 998, f"line of {len(line)} octets"
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    names = [name.lower() for name in parsed.keys()]
    assert set(names) <= EMAIL_HEADERS, f"headers {sorted(set(names) - EMAIL_HEADERS)}"
    assert len(names) == len(set(names)), f"a header twice: {names}"
    for name in ("subject", "from", "to", "reply-to", "message-id"):
        value = str(parsed[name])
        # (without the spaces Python's decoding leaves between encoded words, see below)
        assert value and not refused_characters("".join(value.split())), f"{name}: {value!r}"
    to = parsed["to"].addresses  # type: ignore[union-attr]
    assert len(to) == 1 and to[0].addr_spec == to_email, to
    # Readers join the encoded words of a long name without the folding space (RFC 2047 §6.2);
    # Python's parser keeps it, and decodes a literal "=?…?=" a person typed in their name.
    if "=?" not in to_name:
        shown = "".join(to[0].display_name.split())
        assert shown == "".join(one_line(to_name).split()), (to[0].display_name, to_name)
    assert 0 < len(subject) <= 200 and not refused_characters(subject), subject
    if "=?" not in subject:
        shown = "".join(str(parsed["subject"]).split())
        assert shown == "".join(subject.split()), (str(parsed["subject"]), subject)
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None and html is not None
    text_body = text.get_content()
    assert text_body.strip()
    bad = [c for c in text_body if unicodedata.category(c) == "Cc" and c not in "\n\t"]
    assert not bad, f"controls in the text body: {bad[:5]}"
    check_html(html.get_content())
    return parsed


def calendar_parts(message: EmailMessage) -> list[bytes]:
    """The ``text/calendar`` attachments of a parsed message, as the bytes sent (a text part's
    lines end in CRLF on the wire, RFC 2046 §4.1.1, whatever its transfer encoding)."""
    found = []
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found.append(payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    return found


def check_calendar(
    data: bytes,
    *,
    title: str,
    requirements: str,
    sessions: int,
    attendee_name: str | None = None,
    meeting_url: str | None = None,
) -> Calendar:
    """An iCalendar file (RFC 5545) as calendar programs read it: CRLF content lines with no
    control character but tab, one ``VEVENT`` per session, and the typed text round-trips:
    ``SUMMARY`` the course title on one line, ``DESCRIPTION`` the requirements, an ``ATTENDEE``'s
    ``CN`` the name on one line, ``LOCATION`` the meeting link. Returns the parsed calendar."""
    assert data.endswith(b"\r\n")
    for line in data.split(b"\r\n")[:-1]:
        assert b"\r" not in line and b"\n" not in line, line
        assert not any(b < 0x20 and b != 0x09 or b == 0x7F for b in line), line
    assert data.count(b"\r\nBEGIN:VEVENT\r\n") == sessions
    calendar = Calendar.from_ical(data)
    for component in calendar.walk():
        assert not component.errors, component.errors
    events = calendar.walk("VEVENT")
    assert len(events) == sessions
    for number, event in enumerate(events, start=1):
        assert str(event["SUMMARY"]) == f"{one_line(title)} (session {number} of {sessions})"
        description = str(event["DESCRIPTION"])
        assert description.startswith(f"{one_line(title)}, live online. ")
        assert multi_line(requirements).strip() in description
        if attendee_name is not None:
            assert event["ATTENDEE"].params.get("CN", "") == common_name(attendee_name)
        if meeting_url is not None:
            assert str(event["LOCATION"]) == (one_line(meeting_url) or "Live online")
    return calendar


def check_csv(data: bytes, *, rows: int, columns: dict[str, Sequence[object]]) -> None:
    """A CSV export parses back into ``rows`` data rows of the header's width, no cell starts
    (after spaces) with what a spreadsheet runs as a formula unless it is escaped with an
    apostrophe, every cell is one line, and each column in ``columns`` holds the values given
    (as ``safe_cell`` writes them: on one line, escaped)."""
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    header, *body = table
    assert len(body) == rows, table
    for row in body:
        assert len(row) == len(header), row
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_STARTS), cell
            assert "\n" not in cell and "\r" not in cell, cell
    for title, values in columns.items():
        index = header.index(title)
        assert [row[index] for row in body] == [safe_cell(v) for v in values]


def check_xlsx(data: bytes, *, rows: int, key: str, columns: dict[str, dict[int, object]]) -> None:
    """An XLSX export opens with openpyxl: one sheet, one header row and ``rows`` data rows of
    its width, no formula cell, no text cell starting (after spaces) with what a spreadsheet
    runs as a formula, every text cell one line; each column in ``columns`` holds, in the row
    whose ``key`` column (an id, a number) is the dict's key, the value given as ``safe_cell``
    writes it."""
    workbook = load_workbook(io.BytesIO(data))
    assert len(workbook.worksheets) == 1
    sheet = workbook.active
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    header, *body = table
    assert len(body) == rows, table
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.value
            if isinstance(cell.value, str):
                assert not cell.value.lstrip(" ").startswith(FORMULA_STARTS), cell.value
                assert "\n" not in cell.value and "\r" not in cell.value, cell.value
    assert all(len(row) == len(header) for row in body)
    by_key = {row[header.index(key)]: row for row in body}
    for title, values in columns.items():
        index = header.index(title)
        for row_key, value in values.items():
            expected = safe_cell(value)
            assert by_key[row_key][index] == (expected if expected != "" else None), title


def check_stripe_params(params: dict) -> None:
    """Every text parameter citreg sends Stripe is one line without control characters, the
    product name at most ``PRODUCT_NAME_MAX`` characters, metadata within Stripe's limits."""

    def texts(value: object) -> Iterable[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from texts(item)
        elif isinstance(value, list | tuple):
            for item in value:
                yield from texts(item)

    for text in texts(params):
        assert not refused_characters(text), text
        assert text == text.strip(), text
    for metadata in _metadata_of(params):
        assert len(metadata) <= STRIPE_METADATA_KEYS
        for key, value in metadata.items():
            assert isinstance(key, str) and isinstance(value, str)
            assert 0 < len(key) <= STRIPE_KEY_MAX and "[" not in key and "]" not in key, key
            assert len(value) <= STRIPE_VALUE_MAX, len(value)
    for item in params.get("line_items", []):
        name = item["price_data"]["product_data"]["name"]
        assert 0 < len(name) <= PRODUCT_NAME_MAX, len(name)


def _metadata_of(params: dict) -> list[dict]:
    found = [params["metadata"]] if "metadata" in params else []
    if "payment_intent_data" in params:
        found += _metadata_of(params["payment_intent_data"])
    return found


def pdf_parts(message: EmailMessage) -> list[bytes]:
    """The ``application/pdf`` attachments of a parsed message, decoded."""
    found = []
    for part in message.iter_attachments():
        if part.get_content_type() == "application/pdf":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found.append(payload)
    return found


def check_pdf(data: bytes, *, shown: Iterable[str]) -> None:
    """A PDF (a certificate) opens with pypdf, has one page, and its text (what a reader copies
    out of it) has no NUL (a character drawn with a glyph the font does not have) and holds
    every character of each of ``shown``, as often (whitespace aside, since lines wrap; not in
    order, since pypdf reorders right-to-left runs)."""
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1, len(reader.pages)
    text = reader.pages[0].extract_text()
    assert "\x00" not in text, "a character was drawn without a glyph"
    found = Counter("".join(text.split()))
    for value in shown:
        missing = Counter("".join(value.split())) - found
        assert not missing, (value, sorted(missing), text)
