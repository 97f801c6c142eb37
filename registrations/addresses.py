"""Email addresses and domain names as people type them: one normal form, and refusal of what
cannot be trusted to mean what it looks like.

Every address citreg stores (course email, work email, supervisor email, a new course email) and
every agency domain staff list passes through ``normalise_email`` or ``normalise_domain``:

* Whitespace around the value is stripped (a pasted address often carries some).
* Invisible characters anywhere else are refused, not silently removed: C0/C1 controls,
  format characters (zero-width space, joiners, U+2060 word joiner, U+FEFF, the bidirectional
  controls U+200E/F, U+202A–E, U+2066–9), line and paragraph separators, private-use, surrogate and
  unassigned code points, and the other default-ignorable or blank code points (Unicode
  ``DerivedCoreProperties.txt``, Default_Ignorable_Code_Point): ``courses.text.is_invisible``,
  with none of the exceptions a line of text allows. A space inside is refused too.
* Compatibility characters (those Unicode NFKC changes: fullwidth ``ｇ``, ligatures, superscripts)
  are refused: they are look-alikes of ordinary characters. The rest is put in NFC.
* The domain is lower-cased and converted to IDNA 2008 A-labels (RFC 5890/5891, the ``idna``
  package), so ``bücher.example`` and ``xn--bcher-kva.example`` are stored alike and compare
  equal. An ``xn--`` label is decoded and checked like the Unicode label it stands for.
* A label that mixes scripts (Latin with a Cyrillic ``о``: ``denver911.gоv``) is refused, except
  the combinations Unicode Technical Standard #39 §5.2 calls "highly restrictive" (Latin with
  Han and Japanese kana, with Han and Bopomofo, or with Han and Hangul). So is a label written in
  one non-Latin script whose every letter looks like a Latin one (Cyrillic ``арр`` for ``app``,
  UTS #39 §4 "whole-script confusables"). Scripts and look-alikes come from
  ``confusable_homoglyphs`` (Unicode ``Scripts.txt`` and ``confusables.txt``).

Whether a domain imitates a *listed* agency domain needs the database:
``registrations.models.agency.refuse_lookalike`` compares ``skeleton`` forms. ASCII domains are
not compared: an all-ASCII domain is shown exactly as it is.
"""

import unicodedata

import idna
from confusable_homoglyphs import categories, confusables
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from courses.text import describe, is_invisible

# Scripts that carry no letters of their own (digits, hyphen, combining marks).
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# UTS #39 §5.2 "Highly Restrictive": script mixes that are the normal way of writing a language.
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
_AGAIN = "Please check the address and type it again."


def _refuse_hidden(value: str, what: str) -> None:
    """Raise ValidationError when ``value`` holds an invisible character, a space or a
    compatibility character (which NFKC would turn into another one)."""
    for char in value:
        if is_invisible(char):
            raise ValidationError(
                f"The {what} contains an invisible character ({describe(char)}), often picked "
                f"up when copying and pasting. {_AGAIN}",
                code="invisible",
            )
        if char.isspace():
            raise ValidationError(f"The {what} cannot contain spaces. {_AGAIN}", code="space")
    if unicodedata.normalize("NFKC", value) != unicodedata.normalize("NFC", value):
        odd = next(
            (
                c
                for c in value
                if unicodedata.normalize("NFKC", c) != unicodedata.normalize("NFC", c)
            ),
            "",
        )
        shown = f"“{odd}” ({describe(odd)})" if odd else "a special form of a character"
        raise ValidationError(
            f"The {what} contains {shown}, a look-alike of an ordinary character. Please type "
            "it again with ordinary letters and digits.",
            code="compatibility",
        )


def _script(char: str) -> str:
    return str(categories.alias(char))


def _without_marks(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def ascii_lookalike(char: str) -> str:
    """The ASCII letter or digit ``char`` looks like (lower-case), or "" when none.

    ASCII characters look like themselves; accents are ignored (``é`` → ``e``); other characters
    are looked up in Unicode's confusables (``о`` CYRILLIC SMALL LETTER O → ``o``)."""
    base = _without_marks(char)
    if len(base) != 1:
        return ""
    if base.isascii():
        return base.lower() if base.isalnum() or base == "-" else ""
    for homoglyph in confusables.confusables_data.get(base, []):
        glyph = _without_marks(str(homoglyph["c"]).strip("\u200e\u200f"))
        if len(glyph) == 1 and glyph.isascii() and glyph.isalnum():
            return glyph.lower()
    return ""


def skeleton(domain: str) -> str:
    """What a domain looks like, reduced to ASCII where it can be: accents dropped, each
    character replaced by the ASCII letter it looks like (``dénver911.gоv`` →
    ``denver911.gov``). Two domains with the same skeleton look alike (UTS #39 §4)."""
    shown = display_domain(domain)
    return "".join(
        ascii_lookalike(c) or c for c in _without_marks(shown) if not unicodedata.combining(c)
    )


def _script_names(scripts: set[str]) -> str:
    names = sorted(s.title() for s in scripts)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _refuse_lookalike_label(label: str, domain: str) -> None:
    """Raise ValidationError when a Unicode label mixes scripts or is written entirely in
    letters that look like Latin ones."""
    letters = [(c, _script(c)) for c in label if _script(c) not in _NEUTRAL_SCRIPTS]
    scripts = {script for _, script in letters}
    if len(scripts) > 1 and not any(scripts <= mix for mix in _ALLOWED_MIXES):
        counts = {s: sum(1 for _, t in letters if t == s) for s in scripts}
        main = max(sorted(scripts), key=lambda s: counts[s])
        odd = next(c for c, script in letters if script != main)
        raise ValidationError(
            f"The domain “{domain}” mixes {_script_names(scripts)} characters (“{odd}” is "
            f"{describe(odd)}), which is how look-alike addresses are made. {_AGAIN}",
            code="mixed_script",
        )
    if scripts and scripts != {"LATIN"} and all(ascii_lookalike(c) for c, _ in letters):
        [script] = scripts
        latin = "".join(ascii_lookalike(c) or c for c in label)
        raise ValidationError(
            f"The domain “{domain}” is written in {script.title()} letters that look like the "
            f"Latin “{latin}”, which is how look-alike addresses are made. {_AGAIN}",
            code="whole_script",
        )


def _u_label(label: str, domain: str) -> str:
    """The Unicode form of one lower-cased label; an ``xn--`` label is decoded and must be the
    canonical encoding of what it decodes to."""
    if not label.startswith("xn--"):
        return label
    try:
        decoded = idna.decode(label)
        canonical = idna.encode(decoded).decode("ascii") == label
    except UnicodeError:
        canonical = False
    if not canonical:
        raise ValidationError(
            f"“{domain}” is not a valid international domain name. {_AGAIN}", code="idna"
        )
    return decoded


def _a_label(label: str, domain: str) -> str:
    """The ASCII (IDNA 2008) form of one Unicode label."""
    try:
        return idna.encode(label).decode("ascii")
    except UnicodeError:
        odd = next((c for c in label if not _allowed_alone(c)), "")
        what = (
            f"“{odd}” ({describe(odd)}), which domain names cannot use"
            if odd
            else "a combination of characters that domain names cannot use"
        )
        raise ValidationError(
            f"The domain “{domain}” contains {what}. {_AGAIN}", code="idna"
        ) from None


def _allowed_alone(char: str) -> bool:
    """Whether IDNA 2008 accepts ``char`` as a label by itself (to name the culprit)."""
    try:
        idna.encode(char)
    except UnicodeError:
        return False
    return True


def display_domain(domain: str) -> str:
    """A domain as people read it: each ``xn--`` label decoded (``xn--bcher-kva.example`` →
    ``bücher.example``); a label that does not decode is shown as it is."""
    labels = []
    for label in domain.lower().split("."):
        try:
            labels.append(idna.decode(label) if label.startswith("xn--") else label)
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


def normalise_domain(domain: str) -> str:
    """The one stored form of a domain: lower-case IDNA A-labels without a trailing dot.

    Args:
        domain: as typed (Unicode or ``xn--`` labels; whitespace around it is stripped).

    Returns: e.g. ``xn--bcher-kva.example`` for ``Bücher.Example.`` or ``xn--bcher-kva.example``.
    An ASCII label is kept as typed (lower-cased); whether it is a valid host name is the email
    validator's business. An address literal (``[127.0.0.1]``) is returned unchanged.

    Raises: ValidationError (with a message for the person who typed it) for invisible,
    space or compatibility characters, a label that is not valid IDNA 2008, mixes scripts, or is
    a whole-script look-alike of a Latin label.
    """
    domain = domain.strip()
    _refuse_hidden(domain, "domain")
    domain = unicodedata.normalize("NFC", domain).lower()
    if domain.endswith("."):
        domain = domain[:-1]
    if domain.startswith("["):
        return domain
    labels = domain.split(".")
    shown = ".".join(_u_label(label, domain) if label else label for label in labels)
    a_labels = []
    for label in shown.split("."):
        if label.isascii():
            a_labels.append(label)
            continue
        _refuse_lookalike_label(label, shown)
        a_labels.append(_a_label(label, shown))
    return ".".join(a_labels)


def normalise_email(value: str) -> str:
    """The one stored form of an email address as typed: whitespace around it stripped, the
    local part in NFC and kept as typed (it may be case-sensitive, RFC 5321 §2.4), the domain
    normalised by ``normalise_domain``.

    A value without "@" is returned stripped, for the email validator to refuse.

    Raises: ValidationError for invisible, space or compatibility characters anywhere, and for
    every domain ``normalise_domain`` refuses.
    """
    value = value.strip()
    _refuse_hidden(value, "email address")
    value = unicodedata.normalize("NFC", value)
    local, at, domain = value.rpartition("@")
    if not at or not domain:
        return value
    return f"{local}@{normalise_domain(domain)}"


def clean_email(value: str) -> str:
    """``normalise_email`` and then Django's email validator: the guard a service applies to an
    address before storing it, whatever form or caller it came from.

    Raises: ValidationError for what ``normalise_email`` refuses and for values that are not an
    email address.
    """
    address = normalise_email(value)
    validate_email(address)
    return address


def comparable_email(value: str) -> str:
    """An address reduced for counting and matching (the rate limiter's key): normalised and
    lower-cased, or, when it cannot be normalised, stripped and lower-cased. Never raises."""
    try:
        return normalise_email(value).lower()
    except ValidationError:
        return value.strip().lower()
