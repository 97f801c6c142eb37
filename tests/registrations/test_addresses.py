"""``registrations.addresses``: one stored form of an address, IDNA domains, and refusal of
invisible characters and look-alike domains."""

import string
import unicodedata

import idna
import pytest
from django.core.exceptions import ValidationError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from registrations import addresses

# Characters that have made look-alike or hidden addresses: zero-width and bidi controls, C0/C1
# controls, separators, soft hyphen, fullwidth and other compatibility forms, Cyrillic and Greek
# look-alikes of Latin letters, combining marks, Arabic-Indic digits.
NASTY = (
    "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202e\u2066\u2069\u00ad\u034f\u3164"
    "\x00\x07\x1b\x7f\x85\u2028\u2029\u00a0 \t\r\n"
    "ｇｏｖ０１ﬁ²"
    "оаеріс"  # Cyrillic
    "οαερι"  # Greek
    "\u0301\u0308üéß日本え한"
    "٩١"
)
ASCII = string.ascii_letters + string.digits + "-._+@"
label = st.one_of(
    st.text(st.sampled_from(string.ascii_lowercase + string.digits + "-"), min_size=1, max_size=10),
    st.text(st.sampled_from(string.ascii_lowercase + NASTY), min_size=1, max_size=10),
    st.sampled_from(["xn--gv-fmc", "xn--bcher-kva", "xn--abc", "xn--", "XN--BCHER-KVA"]),
    st.text(min_size=1, max_size=6),
)
domain = st.lists(label, min_size=1, max_size=4).map(".".join)
local = st.text(st.sampled_from(ASCII + NASTY), min_size=1, max_size=16)
typed = st.one_of(
    st.builds(lambda lo, do: f"{lo}@{do}", local, domain),
    st.builds(lambda lo, do, pad: f"{pad}{lo}@{do}{pad}", local, domain, st.sampled_from(" \t\n")),
    st.text(max_size=40),
)


def hidden(value: str) -> list[str]:
    """The invisible, space or compatibility characters in ``value``."""
    return [
        c
        for c in value
        if addresses.is_invisible(c)
        or c.isspace()
        or unicodedata.normalize("NFKC", c) != unicodedata.normalize("NFC", c)
    ]


@settings(max_examples=300, deadline=None)  # the machine is shared: no timing limit
@given(typed)
@example("ana@denver911.gov\u200b")
@example("ana@denver911.g\u043ev")
@example("ana@\uff44enver911.gov")
@example("ana@denver911.xn--gv-fmc")
def test_any_typed_address_is_refused_or_comes_out_clean(value):
    try:
        address = addresses.normalise_email(value)
    except ValidationError as refusal:
        assert refusal.messages and all(m.strip() for m in refusal.messages)
        return
    assert not hidden(address)
    assert addresses.normalise_email(address) == address  # one normal form
    if "@" in address:
        domain = address.rpartition("@")[2]
        assert domain.isascii() and domain == domain.lower()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ana@denver911.gov\u200b", "ZERO WIDTH SPACE (U+200B)"),
        ("ana@denver911\u200d.gov", "ZERO WIDTH JOINER"),
        ("ana@denver911.gov\ufeff", "ZERO WIDTH NO-BREAK SPACE (U+FEFF)"),
        ("ana@\u202edenver911.gov", "RIGHT-TO-LEFT OVERRIDE"),
        ("ana\x07@denver911.gov", "invisible character (U+0007)"),
        ("ana\u2060@denver911.gov", "WORD JOINER"),
        ("ana @denver911.gov", "cannot contain spaces"),
        ("ana@denver911.g\u043ev", "mixes Cyrillic and Latin characters"),  # Cyrillic о
        ("ana@denver911.g\u03bfv", "mixes Greek and Latin characters"),  # Greek ο
        ("ana@d\u0435nver911.gov", "CYRILLIC SMALL LETTER IE"),
        ("ana@\uff44enver911.gov", "FULLWIDTH LATIN SMALL LETTER D"),
        ("ana@denver911.\uff47\uff4f\uff56", "look-alike of an ordinary character"),
        ("ana@denver911.xn--gv-fmc", "mixes Cyrillic and Latin"),  # punycode of g + Cyrillic о + v
        ("ana@\u0430\u0440\u0440.com", "Cyrillic letters that look like the Latin “app”"),
        ("ana@denver\u0669\u0661\u0661.gov", "mixes Arabic and Latin"),
        ("ana@xn--abc.gov", "not a valid international domain name"),
        ("ana@b\u00fc_cher.example", "LOW LINE"),
    ],
)
def test_look_alike_and_hidden_characters_are_refused_with_a_message(value, message):
    with pytest.raises(ValidationError) as refusal:
        addresses.normalise_email(value)
    assert message in refusal.value.messages[0]
    assert "type it again" in refusal.value.messages[0]


@pytest.mark.parametrize(
    ("unicode", "ascii"),
    [
        ("bücher.example", "xn--bcher-kva.example"),  # Latin with a diacritic
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),  # all Cyrillic, TLD too
        ("ελλάδα.gr", "xn--hxakic4aa.gr"),  # all Greek
        ("例え.jp", "xn--r8jz45g.jp"),  # Han with Hiragana, as Japanese is written
        ("münchen.de", "xn--mnchen-3ya.de"),
    ],
)
def test_genuine_idn_domains_are_kept_and_equal_their_xn_form(unicode, ascii):
    assert ascii == idna.encode(unicode).decode()  # the expected form is the standard's
    assert addresses.normalise_email(f"ana@{unicode}") == f"ana@{ascii}"
    assert addresses.normalise_email(f"ana@{ascii}") == f"ana@{ascii}"
    assert addresses.normalise_email(f"ana@{unicode.upper()}.") == f"ana@{ascii}"
    assert addresses.display_domain(ascii) == unicode


def test_surrounding_whitespace_is_stripped_and_the_local_part_kept():
    assert (
        addresses.normalise_email("  Ana.Test+CIT@Denver911.GOV \n") == "Ana.Test+CIT@denver911.gov"
    )
    assert addresses.normalise_email("no-at-sign") == "no-at-sign"  # for the validator to refuse
    assert addresses.comparable_email(" ANA@Bücher.example ") == "ana@xn--bcher-kva.example"
    assert addresses.comparable_email("ana@x\u200b.gov") == "ana@x\u200b.gov"  # never raises


def test_clean_email_also_refuses_what_is_not_an_address():
    assert addresses.clean_email("ana@bücher.example") == "ana@xn--bcher-kva.example"
    for value in ("no-at-sign", "ana@", "a b@x.gov", "ana@x\u200b.gov"):
        with pytest.raises(ValidationError):
            addresses.clean_email(value)


def test_skeletons_of_look_alikes_meet():
    assert addresses.skeleton("dénver911.gov") == "denver911.gov"
    assert addresses.skeleton("xn--dnver911-b1a.gov") == "denver911.gov"
    assert addresses.skeleton("denver911.g\u043ev") == "denver911.gov"
    assert not addresses.skeleton("пример.рф").isascii()  # not every letter has a Latin twin
