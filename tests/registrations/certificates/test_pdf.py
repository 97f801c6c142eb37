"""``registrations.certificates.pdf``: the PDF's text (read back with pypdf) holds the name in
any script, the hours, the credits, the number and the verification address; fonts are chosen
per character."""

import io

import pypdf
import pytest

from registrations.certificates import pdf, service

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    return reader.pages[0].extract_text()


def compact(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Zoë", "Ångström"),
        ("José", "Núñez"),
        ("小明", "王"),  # Chinese
        ("민준", "김"),  # Korean
        ("さくら", "山田"),  # Japanese
        ("Анна", "Иванова"),
        ("Ana", "Test"),
    ],
)
def test_the_pdf_text_has_the_name_hours_and_number(completed, first, last):
    certificate = service.issue_certificate(completed(first, last).pk)
    text = pdf_text(pdf.render_pdf(certificate))
    assert f"{first} {last}" in text
    assert "8 contact hours" in text
    assert "8 CE credits" in text and "0.8 CEUs" in text
    assert certificate.number in text
    assert "December 12–13, 2024" in text
    assert certificate.course_title in text
    assert "Dana Cole, Lee Park" in text
    assert "CIT Training Administration" in text
    assert f"http://127.0.0.1:8000/certificates/{certificate.number}/" in text


def test_cjk_is_drawn_with_the_cjk_font_and_latin_with_dejavu():
    runs = pdf.font_runs("Zoë 王小明 김민준")
    assert runs == [("CertSans", "Zoë "), ("CertCJK", "王小明 김민준")]
    assert pdf.font_runs("Ана", bold=True) == [("CertSansBold", "Ана")]


def test_characters_no_font_has_are_printed_as_a_replacement_not_dropped():
    assert pdf.printed("Ana 👍\u202e Test\r\nBcc: x") == "Ana \ufffd Test Bcc: x"
    assert pdf.printed("हिन्दी") == "\ufffd" * 6
    # DejaVu draws 😀, but reportlab maps no text to characters past U+FFFF.
    assert pdf.printed("Ana 😀") == "Ana \ufffd"


def test_a_long_name_wraps_and_stays_whole(completed, december_class):
    long_last = "Hohenzollern-Sigmaringen de la Peña y Fernández de Córdoba " * 4
    registration = completed("Maximilian", long_last.strip()[:150])
    certificate = service.issue_certificate(registration.pk)
    text = pdf_text(pdf.render_pdf(certificate))
    assert compact(certificate.name) in compact(text)


def test_revoked_and_reissued_certificates_say_so(completed, admin_user):
    certificate = service.issue_certificate(completed().pk)
    certificate = service.certificate_reissue(certificate, user=admin_user)
    assert "Reissued" in pdf_text(pdf.render_pdf(certificate))
    certificate = service.certificate_revoke(certificate, reason="Mistake.", user=admin_user)
    text = pdf_text(pdf.render_pdf(certificate))
    assert "REVOKED" in text and "Mistake." in text


def test_the_credits_follow_the_minutes_per_credit(completed, december_class):
    course = december_class.course
    course.minutes_per_credit = 50
    course.save()
    certificate = service.issue_certificate(completed().pk)
    assert "9.6 CE credits" in pdf_text(pdf.render_pdf(certificate))


def test_a_missing_font_is_named_with_its_package(monkeypatch):
    missing = pdf.FontFile("Nope", pdf.FONT_DIR / "nope/nope.ttf", "fonts-nope")
    monkeypatch.setattr(pdf, "REGULAR_FONTS", (missing,))
    with pytest.raises(pdf.CertificateFontsMissing, match="fonts-nope"):
        pdf.fonts()
