"""Reading a video platform's participants report into join–leave rows.

Two platforms' exports are read, in general rather than by template (``docs/architecture.md``,
"Attendance"):

* Zoom's "meeting participants" CSV: an optional meeting-summary table (``Meeting ID``, ``Topic``,
  ``Start Time``, ``End Time``, ``User Email`` of the host…), a blank line, then one row per join
  and leave (``Name (Original Name)``, ``User Email``, ``Join Time``, ``Leave Time``,
  ``Duration (Minutes)``, ``Guest``…). Times in the host's zone, 12-hour clock.
* Microsoft Teams' attendance report: UTF-16 with a byte-order mark, tab-separated, in numbered
  sections ("1. Summary" as ``key<TAB>value`` lines, "2. Participants" with one row per person
  and ``First Join``/``Last Leave``, "3. In-Meeting Activities" with one row per join and leave),
  times like ``12/13/24, 8:44:51 AM``.

The encoding is found from the byte-order mark, else UTF-8 when the bytes are valid UTF-8, else
UTF-16 without a mark when every other byte is NUL, else Windows-1252 (what US and Western
European Windows programs write; guessing among legacy code pages from a few names is wrong
more often than right). The delimiter is found
per table from its header line. Columns are found by their header names (``COLUMNS``); a table of
one row per join and leave is preferred over one of first join and last leave. Times are read in
the zone the caller gives (the offering's) unless a cell carries its own offset or ``UTC``, or the
summary names a time zone.
"""

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ZOOM, TEAMS, OTHER = "zoom", "teams", "other"
# Header names (compared lower-cased, spaces collapsed) of each column, best first.
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": (
        "name (original name)",
        "name",
        "full name",
        "display name",
        "participant",
        "user name",
    ),
    "email": ("user email", "email", "e-mail", "email address", "participant id (upn)"),
    "join": ("join time", "joined", "join", "first join", "first join time"),
    "leave": ("leave time", "left", "leave", "last leave", "last leave time"),
    "guest": ("guest",),
    "role": ("role", "participant role"),
}
# Headers of a per-person table (one row per person, first join to last leave): read only when
# the report has no table of one row per join and leave.
SUMMARY_JOIN_HEADERS = ("first join", "first join time")
# Roles of those who ran the meeting, whose rows are never attendance.
HOST_ROLES = frozenset(
    {"organizer", "co-organizer", "host", "co-host", "organiser", "co-organiser"}
)
MAX_REPORT_BYTES = 5 * 1024 * 1024
_DATE_ORDERS = ("mdy", "dmy")
_SUMMARY_ZONE_KEYS = ("time zone", "timezone", "time zone (utc offset)")


class ReportError(ValueError):
    """A report that cannot be read; ``message`` says why in words for staff, ``line`` (1-based,
    in the decoded file) says where when one line is at fault."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(f"Line {line}: {message}" if line else message)


@dataclass(frozen=True)
class ReportRow:
    """One join–leave interval of one participant, as the report wrote it.

    ``joined_at``/``left_at`` are aware datetimes; ``line`` is the 1-based line in the decoded
    file; ``host`` is True for the organiser's and co-organisers' rows."""

    line: int
    name: str
    email: str
    joined_at: datetime
    left_at: datetime
    guest: bool = False
    host: bool = False


@dataclass
class ParticipantReport:
    """A report read: its platform, its rows and what its summary said of the meeting."""

    platform: str
    encoding: str
    rows: list[ReportRow] = field(default_factory=list)
    host_emails: set[str] = field(default_factory=set)
    title: str = ""

    @property
    def starts_at(self) -> datetime | None:
        """The earliest join in the report (None for a report without rows)."""
        return min((row.joined_at for row in self.rows), default=None)

    @property
    def ends_at(self) -> datetime | None:
        """The latest leave in the report (None for a report without rows)."""
        return max((row.left_at for row in self.rows), default=None)


def decode(data: bytes) -> tuple[str, str]:
    """``data`` as text and the name of its encoding.

    Raises: ReportError for an empty file, one over ``MAX_REPORT_BYTES``, or bytes no encoding
    reads as text.
    """
    if not data:
        raise ReportError("The file is empty.")
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(f"The file is larger than {MAX_REPORT_BYTES // (1024 * 1024)} MB.")
    for mark, name in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(mark):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as error:
                raise ReportError(f"The file starts as {name} but is not valid {name}.") from error
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if data.count(b"\x00") * 4 >= len(data):  # UTF-16 without a mark: every other byte NUL
        name = "utf-16-le" if data[1::2].count(0) >= data[0::2].count(0) else "utf-16-be"
        try:
            return data.decode(name), name
        except UnicodeDecodeError as error:
            raise ReportError("The file is not text: upload the CSV export.") from error
    # Neither: an export from a Windows program in the US or Western Europe.
    return data.decode("cp1252", errors="replace"), "cp1252"


def _header_key(cell: str) -> str:
    return " ".join(cell.replace("\ufeff", "").strip().lower().split())


def _split(line: str) -> list[str]:
    """One line's cells, with the delimiter its content suggests (tab, comma or semicolon)."""
    delimiter = max(("\t", ",", ";"), key=line.count)
    if line.count(delimiter) == 0:
        return [line.strip()]
    return next(csv.reader([line], delimiter=delimiter))


def _columns(header: list[str]) -> dict[str, int]:
    keys = [_header_key(cell) for cell in header]
    found: dict[str, int] = {}
    for column, names in COLUMNS.items():
        for name in names:
            if name in keys:
                found[column] = keys.index(name)
                break
    return found


@dataclass
class _Table:
    header_line: int
    header: list[str]
    delimiter: str
    columns: dict[str, int]
    rows: list[tuple[int, list[str]]]


def _tables(lines: list[str]) -> list[_Table]:
    """Every table of the text: a header line followed by lines split by the same delimiter,
    ended by a blank line or a section title."""
    tables: list[_Table] = []
    current: _Table | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip("\r\n")
        if not line.strip():
            current = None
            continue
        if current is not None:
            cells = next(csv.reader([line], delimiter=current.delimiter))
            if len(cells) > 1 or len(current.header) == 1:
                current.rows.append((number, cells))
                continue
            current = None
        cells = _split(line)
        if len(cells) > 1:
            delimiter = max(("\t", ",", ";"), key=line.count)
            current = _Table(number, cells, delimiter, _columns(cells), [])
            tables.append(current)
    return tables


def _summary_values(lines: list[str]) -> dict[str, str]:
    """``key<TAB>value`` and ``key,value`` lines (Teams' summary) as {key: value}."""
    values: dict[str, str] = {}
    for raw in lines:
        cells = _split(raw.strip("\r\n"))
        if len(cells) == 2 and cells[0].strip():
            values.setdefault(_header_key(cells[0]), cells[1].strip())
    return values


_OFFSET = re.compile(r"(?:\s*(?:UTC|GMT|Z))?\s*([+-])(\d{1,2}):?(\d{2})?\s*$", re.IGNORECASE)
_UTC_SUFFIX = re.compile(r"\s*(?:UTC|GMT|Z)\s*$", re.IGNORECASE)
_TIME_FORMATS = ("%I:%M:%S %p", "%I:%M %p", "%H:%M:%S", "%H:%M")


def _zone_named(value: str) -> dt_timezone | ZoneInfo | None:
    """A zone a summary names: an IANA name, ``UTC``, or an offset such as ``UTC-07:00``."""
    text = value.strip()
    if not text:
        return None
    if _UTC_SUFFIX.fullmatch(text):
        return UTC
    match = _OFFSET.search(text)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return dt_timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_time(text: str, zone: ZoneInfo | dt_timezone, order: str = "mdy") -> datetime:
    """A report's date and time as an aware datetime.

    Reads ``12/12/2024 08:41:07 AM``, ``12/13/24, 8:44:51 AM``, ``2024-12-12 08:41:07``, ISO
    8601 with ``T`` and an offset or ``Z``, and 24-hour clocks; numeric dates in ``order``
    ("mdy" or "dmy"). A trailing ``UTC``/``GMT``/offset overrides ``zone``.

    Raises: ValueError when the text is not a date and time.
    """
    value = unicodedata.normalize("NFKC", text).strip().replace("\u202f", " ")
    if not value:
        raise ValueError("no date and time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is not None:
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    own_zone: dt_timezone | None = None
    if _UTC_SUFFIX.search(value):
        own_zone, value = UTC, _UTC_SUFFIX.sub("", value)
    else:
        match = _OFFSET.search(value)
        if match and re.search(r"(?:UTC|GMT)\s*[+-]", value, re.IGNORECASE):
            own_zone = _zone_named(match.group(0))  # type: ignore[assignment]
            value = value[: match.start()]
    date_text, _, time_text = value.replace(",", " ").strip().partition(" ")
    date_parts = re.split(r"[/.-]", date_text)
    if len(date_parts) != 3 or not all(part.isdigit() for part in date_parts):
        raise ValueError(f"not a date: {date_text!r}")
    if len(date_parts[0]) == 4:
        year, month, day = (int(part) for part in date_parts)
    elif order == "dmy":
        day, month, year = (int(part) for part in date_parts)
    else:
        month, day, year = (int(part) for part in date_parts)
    if year < 100:
        year += 2000
    clock_text = " ".join(time_text.split()).upper().replace(".", "")
    for time_format in _TIME_FORMATS:
        try:
            clock = datetime.strptime(clock_text, time_format).time()
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"not a time: {time_text!r}")
    return datetime(year, month, day, clock.hour, clock.minute, clock.second,
                    tzinfo=own_zone or zone)  # fmt: skip


def _choose_table(tables: list[_Table]) -> _Table:
    usable = [t for t in tables if {"name", "join", "leave"} <= t.columns.keys() and t.rows]
    if not usable:
        raise ReportError(
            "No table of participants found: the report needs columns for the name, the join "
            "time and the leave time (e.g. Zoom's 'Name (Original Name)', 'Join Time', 'Leave "
            "Time', or Teams' 'Name', 'Join Time', 'Leave Time')."
        )
    per_join = [
        t for t in usable if _header_key(t.header[t.columns["join"]]) not in SUMMARY_JOIN_HEADERS
    ]
    return max(per_join or usable, key=lambda t: len(t.rows))


def _cell(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _read_times(
    table: _Table, zone: ZoneInfo | dt_timezone
) -> tuple[str, list[tuple[datetime, datetime]]]:
    """Every row's join and leave, in the first date order that reads every row."""
    first_error: ReportError | None = None
    for order in _DATE_ORDERS:
        times: list[tuple[datetime, datetime]] = []
        try:
            for number, cells in table.rows:
                try:
                    joined = parse_time(_cell(cells, table.columns, "join"), zone, order)
                    left = parse_time(_cell(cells, table.columns, "leave"), zone, order)
                except ValueError as error:
                    raise ReportError(
                        f"cannot read the join or leave time ({error}).", number
                    ) from error
                if left < joined:
                    raise ReportError("the leave time is before the join time.", number)
                times.append((joined, left))
        except ReportError as error:
            first_error = first_error or error
            continue
        return order, times
    assert first_error is not None
    raise first_error


def read_report(data: bytes, zone: ZoneInfo) -> ParticipantReport:
    """Read a participants report (``data``: the uploaded file's bytes) into rows.

    Args:
        data: the file as uploaded (any of the encodings ``decode`` reads).
        zone: the zone its times are in unless the file says otherwise (the offering's).

    Returns: the report, with every row (hosts' marked ``host``) in file order.
    Raises: ReportError (with the line when one line is at fault) for a file that is not text,
    has no table of participants, or has a row whose times cannot be read.
    """
    text, encoding = decode(data)
    lines = text.splitlines()
    tables = _tables(lines)
    table = _choose_table(tables)
    summary = _summary_values(lines)
    file_zone = next(
        (z for key in _SUMMARY_ZONE_KEYS if (z := _zone_named(summary.get(key, ""))) is not None),
        None,
    )
    headers = {_header_key(cell) for t in tables for cell in t.header}
    platform = ZOOM if "name (original name)" in headers or "meeting id" in headers else OTHER
    if any(line.strip().lower().startswith(("1. summary", "2. participants")) for line in lines):
        platform = TEAMS
    report = ParticipantReport(platform=platform, encoding=encoding)
    report.title = summary.get("meeting title", "")
    for other in tables:
        keys = [_header_key(cell) for cell in other.header]
        if other is table or "join" in other.columns:
            continue
        for _, cells in other.rows:  # Zoom's meeting summary: the topic and the host's address
            report.host_emails.add(_cell(cells, other.columns, "email").lower())
            if "topic" in keys and not report.title:
                report.title = _cell(cells, {"topic": keys.index("topic")}, "topic")
    report.host_emails.discard("")
    _, times = _read_times(table, file_zone or zone)
    for (number, cells), (joined, left) in zip(table.rows, times, strict=True):
        name = " ".join(_cell(cells, table.columns, "name").split())
        email = _cell(cells, table.columns, "email")
        role = _header_key(_cell(cells, table.columns, "role"))
        guest = _header_key(_cell(cells, table.columns, "guest")) in ("yes", "true", "1", "guest")
        host = role in HOST_ROLES or (bool(email) and email.lower() in report.host_emails)
        report.rows.append(ReportRow(number, name, email, joined, left, guest=guest, host=host))
    return report
