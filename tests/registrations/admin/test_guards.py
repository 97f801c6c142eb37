"""``admin.guards.safe_cell``: an export cell is one line a spreadsheet shows as text, or a
number (the exports themselves are checked with every typed field by ``tests/hostile``)."""

from decimal import Decimal

import pytest

from registrations.admin.guards import safe_cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'=1"),  # the tab goes, then the formula is escaped
        ("\r=1", "'=1"),
        ("  =1", "'=1"),
        ("Ana\r\nBcc", "Ana Bcc"),  # one line: a reader that splits lines keeps the row
        ("Ana\x1b[31m", "Ana [31m"),
        ("Denver 911", "Denver 911"),
        (None, ""),
        (42, 42),  # numbers stay numbers: never a formula, and a spreadsheet adds them up
        (Decimal("-12.50"), Decimal("-12.50")),
        ("12.50", "12.50"),
        ("-12.50", "'-12.50"),  # text that looks like a negative amount is still text
        (True, "True"),
    ],
)
def test_a_cell_is_one_line_and_never_a_formula(value, cell):
    assert safe_cell(value) == cell
