"""Text as people type it and as citreg writes it out: the one rule for what a single line of
text may hold, and the defences every renderer applies to text it did not check itself.

Staff and attendees type titles, names, agencies, roles, phone numbers, subjects and links that
end up in pages, email headers, calendar files, CSV exports and Stripe's checkout. Two rules:

* **Single-line fields refuse, at input, what draws nothing or breaks a line**
  (``single_line``, a validator that forms and admin forms apply): C0 and C1 controls (tab,
  line feed and carriage return included), format characters (zero-width space, word joiner,
  U+FEFF, soft hyphen, the bidirectional embeddings, overrides and isolates U+202A–E,
  U+2066–9 and marks U+200E/F, U+061C), line and paragraph separators, private-use, surrogate and
  unassigned code points, and the other default-ignorable or blank code points (Unicode
  ``DerivedCoreProperties.txt``, Default_Ignorable_Code_Point): ``is_invisible``. Three are
  kept where a writing system needs them: ZERO WIDTH JOINER and NON-JOINER after a virama (RFC
  5892 Appendix A.1/A.2, e.g. Devanagari conjuncts) or, for the joiner, between two emoji (an
  emoji ZWJ sequence such as 👩‍💻, Unicode Technical Standard #51 §2.3), the non-joiner also
  between two letters of a script other than Latin (Persian "می‌خواهم"), and the emoji and
  text presentation selectors U+FE0F/U+FE0E after a symbol or keycap base (UTS #51 §1.4.3,
  "❤️"). The message names the character, so the person can find it.
* **Renderers defend themselves** because older rows and imports never met that validator:
  ``one_line`` (for a header, a calendar property, a Stripe parameter: what ``single_line``
  refuses becomes a space, runs of spaces collapse), ``multi_line`` (for bodies: line breaks
  normalised to ``\\n``, other controls dropped) and ``truncate`` (to a provider's limit, on a
  character boundary, with an ellipsis).

Email addresses and domains have stricter rules of their own (``registrations.addresses``,
which uses ``is_invisible`` and ``describe`` from here). ``courses`` is the lowest layer, so
``registrations`` imports this module and never the other way round.
"""

import re
import unicodedata

from django import forms
from django.core.exceptions import ValidationError

# Unicode general categories that draw nothing or reorder text: Cc control, Cf format (zero-width
# characters, U+FEFF, bidi controls, soft hyphen), Co private use, Cs surrogate, Cn unassigned,
# Zl line and Zp paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
# Default-ignorable or blank code points outside those categories: combining grapheme joiner,
# Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors, braille blank.
_BLANK_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
)
# What breaks a line in a header, a CSV reader, a calendar file or a terminal (Python's
# ``str.splitlines`` boundaries).
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Names Unicode gives only as aliases (``unicodedata.name`` has none for controls).
_CONTROL_NAMES = {
    "\t": "TAB",
    "\n": "LINE FEED",
    "\x0b": "LINE TABULATION",
    "\x0c": "FORM FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
}
_LINE_BREAK = re.compile("\r\n|[" + "".join(sorted(LINE_BREAKS - {"\n"})) + "]")
ZWNJ, ZWJ = "\u200c", "\u200d"
TEXT_PRESENTATION, EMOJI_PRESENTATION = "\ufe0e", "\ufe0f"
ELLIPSIS = "\u2026"


def is_invisible(char: str) -> bool:
    """True for a character that shows nothing, or changes how the text around it reads: a
    control, format (zero-width, bidi), separator, private-use or unassigned code point, or
    another default-ignorable or blank one (see the module docstring)."""
    if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _BLANK_RANGES)


def describe(char: str) -> str:
    """A character as a message names it, e.g. "ZERO WIDTH SPACE (U+200B)", "U+0007"."""
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    return f"{name} ({code})" if name else code


def _described(char: str) -> str:
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(char, "")
    return f"{name} (U+{ord(char):04X})" if name else f"U+{ord(char):04X}"


def _is_virama(char: str) -> bool:
    return unicodedata.combining(char) == 9  # canonical combining class Virama


def _is_emoji(char: str) -> bool:
    """An emoji or symbol an emoji sequence is built of (So, or a skin-tone modifier)."""
    return unicodedata.category(char) == "So" or 0x1F3FB <= ord(char) <= 0x1F3FF


def _non_latin_letter(char: str) -> bool:
    return unicodedata.category(char).startswith(("L", "M")) and not unicodedata.name(
        char, ""
    ).startswith("LATIN")


def _kept(text: str, index: int) -> bool:
    """Whether the invisible character at ``index`` is one a writing system needs there."""
    char = text[index]
    before = text[index - 1] if index else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    if char in (ZWJ, ZWNJ) and before and _is_virama(before):
        return True
    if char == ZWJ and before and after:
        base = text[index - 2] if before == EMOJI_PRESENTATION and index > 1 else before
        return _is_emoji(base) and _is_emoji(after)
    if char == ZWNJ and before and after:
        return _non_latin_letter(before) and _non_latin_letter(after)
    if char in (TEXT_PRESENTATION, EMOJI_PRESENTATION) and before:
        return unicodedata.category(before) in ("So", "Sm", "Nd") or before in "#*"
    return False


def refused_characters(text: str) -> list[str]:
    """The characters of ``text`` a single line may not hold, in order (``is_invisible``, less
    the joiners and presentation selectors a writing system needs where they stand)."""
    return [c for i, c in enumerate(text) if is_invisible(c) and not _kept(text, i)]


def single_line(value: str) -> None:
    """Validator of every single-line field (titles, names, agency, city, role, phone, subject,
    meeting link): refuse line breaks, tabs, controls and invisible characters.

    Raises: ValidationError (code ``line_break`` or ``invisible``) naming the first refused
    character, e.g. "… contains a line break (LINE FEED (U+000A)) …".
    """
    refused = refused_characters(str(value))
    if not refused:
        return
    char = refused[0]
    if char in LINE_BREAKS:
        raise ValidationError(
            f"Please keep this on one line: it contains a line break ({_described(char)}).",
            code="line_break",
        )
    what = "a tab" if char == "\t" else f"an invisible character ({_described(char)})"
    raise ValidationError(
        f"This contains {what}, often picked up when copying and pasting. Please remove it or "
        "type the text again.",
        code="invisible",
    )


def one_line(value: object) -> str:
    """``value`` as one line of visible text, for renderers that cannot refuse it (an email
    header, a calendar property, a Stripe parameter): every character ``single_line`` refuses
    becomes a space, runs of whitespace collapse to one space, the ends are stripped. Text that
    ``single_line`` accepts comes back with only its whitespace collapsed."""
    text = "" if value is None else str(value)
    refused = set(refused_characters(text))
    if refused:
        text = "".join(" " if c in refused else c for c in text)
    return " ".join(text.split())


def multi_line(value: object) -> str:
    """``value`` as lines of text, for bodies (an email's text part, a calendar description):
    CR LF, CR and the other line breaks become ``\\n``, every other control but the tab is
    dropped. Bidirectional and zero-width characters are kept: in running text they are how
    right-to-left and Indic writing is typed."""
    text = _LINE_BREAK.sub("\n", "" if value is None else str(value))
    return "".join(
        c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp")
    )


WEB_SCHEMES = ("https", "http")


def web_link(value: object) -> str:
    """``value`` when it is a link a browser opens as a web page (``https:`` or ``http:``, with a
    host, one line of visible text), else "" — for renderers of links stored before input was
    validated or imported (a ``javascript:`` or ``data:`` link, a link with a line break in it
    would run code or break the line it is written on)."""
    text = "" if value is None else str(value).strip()
    scheme, _, rest = text.partition(":")
    if scheme.lower() not in WEB_SCHEMES or not rest.startswith("//") or len(rest) < 3:
        return ""
    if one_line(text) != text or " " in text:
        return ""
    return text


# What running text (a multi-line field) may not hold: controls other than line breaks and tabs,
# and the bidirectional embeddings and overrides U+202A–E, which reorder the text after them
# ("Trojan Source", CVE-2021-42574). Marks (U+200E/F) and isolates (U+2066–9) stay: they are
# how right-to-left text is typed.
_BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e")


def running_text(value: str) -> None:
    """Validator of multi-line fields (notes, descriptions, reasons, bodies, accessibility
    needs): refuse controls other than line breaks and tabs, and bidirectional embeddings and
    overrides, naming the character.

    Raises: ValidationError (code ``control``) with the characters found.
    """
    found = sorted(
        {
            c
            for c in value
            if c in _BIDI_OVERRIDES or (unicodedata.category(c) == "Cc" and c not in "\n\r\t")
        }
    )
    if found:
        raise ValidationError(
            f"This contains {', '.join(_described(c) for c in found)}, often picked up when "
            "copying and pasting, which can hide or reorder the text. Please remove it.",
            code="control",
        )


def normalise_line_breaks(value: str) -> str:
    """CR LF and lone CR as LF: what a browser sends for a textarea (CR LF) counted as the
    browser counts it against ``maxlength`` (one character per line break)."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


class MultiLineField(forms.CharField):
    """A form field for running text: line breaks normalised before the length check
    (``normalise_line_breaks``) and ``running_text`` applied."""

    default_validators = [running_text]

    def to_python(self, value: object) -> str:
        text = super().to_python(value)
        return normalise_line_breaks(text) if isinstance(text, str) else ""


def truncate(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters, ending with "…" when cut (a provider's
    length limit, e.g. Stripe's 500 characters per metadata value).

    Raises: ValueError when ``limit`` is less than 1.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(value) <= limit:
        return value
    return value[: limit - 1].rstrip() + ELLIPSIS
