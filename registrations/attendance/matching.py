"""Who is who in a participants report: rows to registrations.

A row is matched by its email address to a registration's course or work email; failing that,
by name: names compare by ``name_key`` (case, accents, punctuation and text in parentheses
ignored; "Last, First" read as "First Last"), against the registration's name in either order.
A name shared by several registrations is ambiguous, never guessed (``docs/architecture.md``,
"Attendance").
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from registrations.addresses import comparable_email

from .reports import ReportRow

BY_EMAIL, BY_NAME, AMBIGUOUS, UNMATCHED, HOST = "email", "name", "ambiguous", "unmatched", "host"
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def name_key(name: str) -> str:
    """A name reduced for comparison: "Núñez, José (Dispatch)" → "jose nunez".

    Text in parentheses or brackets is dropped, "Last, First" becomes "First Last", accents and
    other combining marks are removed, case is folded, and everything but letters and digits
    becomes a single space.
    """
    text = _PARENTHESES.sub(" ", unicodedata.normalize("NFKC", name or ""))
    if text.count(",") == 1:
        last, first = text.split(",")
        text = f"{first} {last}"
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in bare).split())


@dataclass(frozen=True)
class Person:
    """What matching needs of a registration: its id, name and addresses."""

    registration_id: int
    first_name: str
    last_name: str
    emails: tuple[str, ...]

    def name_keys(self) -> set[str]:
        """The person's name in both orders, reduced by ``name_key``."""
        return {
            name_key(f"{self.first_name} {self.last_name}"),
            name_key(f"{self.last_name} {self.first_name}"),
        }


@dataclass
class Participant:
    """One participant of the report: their rows (a person on several rows when they
    reconnected) and what matching made of them."""

    key: str
    name: str
    email: str
    rows: list[ReportRow] = field(default_factory=list)
    outcome: str = UNMATCHED
    registration_id: int | None = None
    candidates: tuple[int, ...] = ()


def group_rows(rows: Iterable[ReportRow]) -> list[Participant]:
    """The report's rows grouped by participant: by email address when the row has one, else by
    ``name_key`` (rows of a guest without an address), in order of first appearance."""
    groups: dict[str, Participant] = {}
    for row in rows:
        key = f"email:{comparable_email(row.email)}" if row.email else f"name:{name_key(row.name)}"
        participant = groups.setdefault(key, Participant(key, row.name, row.email))
        participant.rows.append(row)
        if row.host:
            participant.outcome = HOST
    return list(groups.values())


def match(participants: Sequence[Participant], people: Sequence[Person]) -> list[Participant]:
    """Set each participant's ``outcome`` (and ``registration_id``): ``host`` rows are left out;
    then by email, then by name; ``ambiguous`` when a name fits several people (their ids in
    ``candidates``), ``unmatched`` when none. Returns ``participants``."""
    by_email: dict[str, int] = {}
    for person in people:
        for address in person.emails:
            if address:
                by_email.setdefault(comparable_email(address), person.registration_id)
    by_name: dict[str, set[int]] = {}
    for person in people:
        for key in person.name_keys():
            by_name.setdefault(key, set()).add(person.registration_id)
    for participant in participants:
        if participant.outcome == HOST:
            continue
        emails = {comparable_email(row.email) for row in participant.rows if row.email}
        found = {by_email[address] for address in emails if address in by_email}
        if len(found) == 1:
            participant.outcome, participant.registration_id = BY_EMAIL, found.pop()
            continue
        names = {name_key(row.name) for row in participant.rows} - {""}
        fits = set().union(*(by_name.get(key, set()) for key in names)) if names else set()
        if len(fits) == 1:
            participant.outcome, participant.registration_id = BY_NAME, fits.pop()
        elif fits:
            participant.outcome, participant.candidates = AMBIGUOUS, tuple(sorted(fits))
    return list(participants)
