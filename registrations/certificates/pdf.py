"""The certificate of completion as a PDF (reportlab), with its verification QR code (segno).

Names may be written in any script. The PDF embeds two TrueType fonts that Debian packages and
the project's setup installs (``make certificate-fonts``, README "Certificates"): DejaVu Sans
(``fonts-dejavu-core``: Latin, Greek, Cyrillic, Arabic, Hebrew…) and WenQuanYi Micro Hei
(``fonts-wqy-microhei``: Chinese, Japanese and Korean). reportlab cannot embed the CFF outlines
of Noto CJK, so those are not used. Every character is drawn with the first font that has a
glyph for it (``font_runs``); a character neither has (an emoji, Devanagari) is printed as
U+FFFD "�" rather than as an invisible empty glyph, so the text a reader copies out of the PDF is
what it shows (``printed``). Text is not shaped: Arabic and Hebrew letters are drawn one by one,
left to right. Typed text is made one line first (``courses.text.one_line``: no
control, bidi or zero-width character reaches the page) and wrapped to the width of the page.
"""

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path

import segno
from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import landscape, letter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from courses.text import one_line
from courses.timefmt import date_range_label

from .models import Certificate

FONT_DIR = Path("/usr/share/fonts/truetype")


@dataclass(frozen=True)
class FontFile:
    """One TrueType font the PDF may embed: its name in the PDF, its file and, for a TrueType
    collection (``.ttc``), the index of the face to use."""

    name: str
    path: Path
    package: str
    subfont: int = 0


# In order of preference: a character is drawn with the first of these that has it.
REGULAR_FONTS = (
    FontFile("CertSans", FONT_DIR / "dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    FontFile("CertCJK", FONT_DIR / "wqy/wqy-microhei.ttc", "fonts-wqy-microhei"),
)
BOLD_FONTS = (
    FontFile("CertSansBold", FONT_DIR / "dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    # WenQuanYi Micro Hei has no bold face: CJK in a bold line is drawn in the regular face.
    REGULAR_FONTS[1],
)
REPLACEMENT = "\ufffd"


class CertificateFontsMissing(RuntimeError):
    """A font file the PDF needs is not installed; the message names the Debian package."""


@cache
def _loaded(font: FontFile) -> TTFont:
    if not font.path.is_file():
        raise CertificateFontsMissing(
            f"The certificate font {font.path} is missing: install the Debian package "
            f"{font.package} (make certificate-fonts)."
        )
    ttf = TTFont(font.name, str(font.path), subfontIndex=font.subfont)
    pdfmetrics.registerFont(ttf)
    return ttf


def fonts(bold: bool = False) -> tuple[TTFont, ...]:
    """The loaded fonts of one weight, in order of preference.

    Raises: CertificateFontsMissing when a font file is not installed."""
    return tuple(_loaded(font) for font in (BOLD_FONTS if bold else REGULAR_FONTS))


def _font_for(char: str, faces: tuple[TTFont, ...]) -> TTFont | None:
    code = ord(char)
    for face in faces:
        if code in face.face.charToGlyph:
            return face
    return None


def printed(text: object, *, bold: bool = False) -> str:
    """``text`` as the certificate prints it: one line (``courses.text.one_line``); a format
    character no font has (a zero-width joiner, which only guides shaping) left out; any other
    character that no font has, or outside the Basic Multilingual Plane (emoji: reportlab writes
    no usable text mapping for those, so a reader could not copy them), replaced by U+FFFD
    (spaces are always printable).

    Raises: CertificateFontsMissing when a font file is not installed."""
    faces = fonts(bold)
    kept = []
    for char in one_line(text):
        if char == " " or (ord(char) <= 0xFFFF and _font_for(char, faces) is not None):
            kept.append(char)
        elif unicodedata.category(char) != "Cf":
            kept.append(REPLACEMENT)
    return "".join(kept)


def font_runs(text: str, *, bold: bool = False) -> list[tuple[str, str]]:
    """``text`` (already ``printed``) cut into runs of one font: ``[(font name, text)]``. A
    space or a combining mark stays in the run before it."""
    faces = fonts(bold)
    runs: list[tuple[str, str]] = []
    for char in text:
        face = _font_for(char, faces) or faces[0]
        if runs and (char == " " or face.fontName == runs[-1][0]):
            runs[-1] = (runs[-1][0], runs[-1][1] + char)
        else:
            runs.append((face.fontName, char))
    return runs


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Width in points of ``text`` (``printed``) at ``size`` points, font by font."""
    return sum(pdfmetrics.stringWidth(run, name, size) for name, run in font_runs(text, bold=bold))


def wrap(text: str, size: float, width: float, *, bold: bool = False) -> list[str]:
    """``text`` (``printed``) broken into lines no wider than ``width`` points: at spaces
    where possible, else between characters (a long word, or CJK, which has no spaces)."""
    lines: list[str] = []
    for word in text.split(" "):
        line = f"{lines[-1]} {word}" if lines else word
        if lines and text_width(line, size, bold=bold) <= width:
            lines[-1] = line
            continue
        piece = ""
        for char in word:
            if piece and text_width(piece + char, size, bold=bold) > width:
                lines.append(piece)
                piece = ""
            piece += char
        lines.append(piece)
    return [line for line in lines if line] or [""]


def verification_url(certificate: Certificate) -> str:
    """The absolute address of the certificate's public page, from ``settings.SITE_URL``."""
    path = reverse("registrations:certificate", kwargs={"number": certificate.number})
    return f"{settings.SITE_URL}{path}"


def amount(value: Decimal) -> str:
    """A decimal as printed: no trailing zeros ("8", "9.6", "0.8")."""
    return f"{value.normalize():f}"


PAGE_WIDTH, PAGE_HEIGHT = landscape(letter)  # 792 x 612 points
MARGIN = 54
INK = HexColor("#1d2a38")
ACCENT = HexColor("#0a4f8a")
MUTED = HexColor("#495057")
REVOKED = HexColor("#b02a37")


class _Page:
    """Draws centred, wrapped, multi-font lines from the top of the page down."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.y = PAGE_HEIGHT - MARGIN - 10

    def line(self, text: str, x: float, y: float, size: float, *, bold: bool, centre: bool):
        width = text_width(text, size, bold=bold)
        # One text object with a font change per run, so a reader copies the line as one.
        line = self.canvas.beginText(x - width / 2 if centre else x, y)
        for name, run in font_runs(text, bold=bold):
            line.setFont(name, size)
            line.textOut(run)
        self.canvas.drawText(line)

    def block(
        self,
        text: object,
        size: float,
        *,
        bold: bool = False,
        colour: Color = INK,
        smallest: float | None = None,
        width: float = PAGE_WIDTH - 2 * MARGIN - 40,
        max_lines: int = 3,
        after: float = 10,
    ) -> None:
        """A paragraph centred on the page: shrunk down to ``smallest`` points to fit one line,
        then wrapped (at most ``max_lines``, the last one cut with "…")."""
        content = printed(text, bold=bold)
        if smallest is not None:
            while size > smallest and text_width(content, size, bold=bold) > width:
                size -= 1
        lines = wrap(content, size, width, bold=bold)
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            last = lines[-1]
            while last and text_width(last + "…", size, bold=bold) > width:
                last = last[:-1]
            lines[-1] = last + "…"
        self.canvas.setFillColor(colour)
        for text_line in lines:
            self.y -= size * 1.25
            self.line(text_line, PAGE_WIDTH / 2, self.y, size, bold=bold, centre=True)
        self.y -= after


def _details(certificate: Certificate) -> Iterator[str]:
    hours = amount(certificate.contact_hours)
    yield (
        f"{hours} contact hour{'' if certificate.contact_hours == 1 else 's'} · "
        f"{amount(certificate.credits)} CE credits · {amount(certificate.ceus)} CEUs"
    )


def _qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR code of ``url`` (segno, error correction M), ``size`` points square with its
    quiet zone, its lower left corner at (``x``, ``y``)."""
    code = segno.make(url, error="m", micro=False)
    matrix = [list(row) for row in code.matrix_iter(border=4)]
    module = size / len(matrix)
    canvas.setFillColor(HexColor("#ffffff"))
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColor(HexColor("#000000"))
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                canvas.rect(x + c * module, y + size - (r + 1) * module, module, module, 0, 1)


def render_pdf(certificate: Certificate) -> bytes:
    """The certificate as a one-page landscape US Letter PDF: the attendee's name, the course,
    the offering's dates, the contact hours, CE credits and CEUs, the instructors, the provider,
    the number, the verification address and its QR code; "REVOKED" with the date and reason
    for a revoked one. Uses the frozen fields only (``Certificate``), so the same certificate
    gives the same text every time.

    Raises: CertificateFontsMissing when a font file is not installed.
    """
    fonts(), fonts(bold=True)  # fail before drawing anything
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), pageCompression=1)
    canvas.setTitle(f"Certificate of completion {certificate.number}")
    canvas.setAuthor(one_line(certificate.provider))
    canvas.setSubject(one_line(certificate.course_title))
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(3)
    canvas.rect(24, 24, PAGE_WIDTH - 48, PAGE_HEIGHT - 48)
    canvas.setLineWidth(0.8)
    canvas.rect(32, 32, PAGE_WIDTH - 64, PAGE_HEIGHT - 64)

    page = _Page(canvas)
    page.block(certificate.provider, 14, colour=MUTED, smallest=9, max_lines=2, after=14)
    page.block("Certificate of Completion", 34, bold=True, colour=ACCENT, after=20)
    page.block("This certifies that", 14, colour=MUTED, after=8)
    page.block(certificate.name, 32, bold=True, smallest=14, max_lines=8, after=14)
    page.block("has completed the live online course", 14, colour=MUTED, after=8)
    page.block(certificate.course_title, 20, bold=True, smallest=12, max_lines=3, after=6)
    page.block(certificate.dates_label, 15, after=16)
    for line in _details(certificate):
        page.block(line, 15, bold=True, after=14)
    if certificate.instructors:
        page.block(f"Instructors: {certificate.instructors}", 12, smallest=8, max_lines=2, after=4)
    page.block(f"Provider: {certificate.provider}", 12, smallest=8, max_lines=2, after=4)

    url = verification_url(certificate)
    qr_size = 96
    _qr(canvas, url, PAGE_WIDTH - MARGIN - qr_size, MARGIN, qr_size)
    canvas.setFillColor(INK)
    zone = certificate.registration.offering.zone  # dates as the class's schedule writes them
    issued = certificate.issued_at.astimezone(zone).date()
    footer = [
        (f"Certificate number: {certificate.number}", True),
        (f"Issued {date_range_label(issued, issued)}", False),
    ]
    if certificate.reissued_at is not None:
        again = certificate.reissued_at.astimezone(zone).date()
        footer.append((f"Reissued {date_range_label(again, again)}", False))
    footer.append((f"Verify: {url}", False))
    y = MARGIN + 12 * (len(footer) - 1)
    for text, bold in footer:
        page.line(printed(text, bold=bold), MARGIN, y, 10, bold=bold, centre=False)
        y -= 12
    if certificate.revoked_at is not None:
        revoked = certificate.revoked_at.astimezone(zone).date()
        page.y = MARGIN + 118
        page.block(
            f"REVOKED {date_range_label(revoked, revoked)}", 22, bold=True, colour=REVOKED, after=0
        )
        page.block(certificate.revoked_reason, 11, colour=REVOKED, max_lines=2, after=0)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def pdf_filename(certificate: Certificate) -> str:
    """The PDF's file name, e.g. "certificate-7KQM-X4PA-93TD.pdf" (ASCII only)."""
    return f"certificate-{certificate.number}.pdf"


def pdf_response(certificate: Certificate) -> HttpResponse:
    """The certificate's PDF as a download (``pdf_filename``), for the manage page and the
    admin.

    Raises: CertificateFontsMissing when a font file is not installed."""
    response = HttpResponse(render_pdf(certificate), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf_filename(certificate)}"'
    return response
