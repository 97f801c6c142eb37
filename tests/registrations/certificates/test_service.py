"""``registrations.certificates.service``: issuing once, the number, the frozen fields, the
email with its PDF made at sending time, revoking and reissuing."""

import io
import re
import threading
from decimal import Decimal

import pypdf
import pytest
from django.core import mail
from django.db import connection, transaction

from registrations.certificates import service
from registrations.certificates.models import Certificate
from registrations.messaging import outbox
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from tests.factories import registration_in

pytestmark = pytest.mark.django_db
NUMBER = re.compile(
    r"^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}){2}$"
)


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def pdf_part(message) -> tuple[str, bytes, str]:
    """The message's one attachment: file name, content, content type."""
    [part] = message.attachments
    return part.get_filename(), part.get_content(), part.get_content_type()


def certificate_emails() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(kind=service.CERTIFICATE).order_by("pk"))


def test_issuing_twice_gives_one_certificate_and_one_email(
    completed, django_capture_on_commit_callbacks
):
    registration = completed()
    with django_capture_on_commit_callbacks(execute=True):
        first = service.issue_certificate(registration.pk)
    with django_capture_on_commit_callbacks(execute=True):
        second = service.issue_certificate(registration.pk)
    assert first.pk == second.pk and first.number == second.number
    assert Certificate.objects.count() == 1
    [email] = certificate_emails()
    assert email.status == OutboundEmail.Status.SENT
    [message] = mail.outbox
    assert message.to == [registration.email] or registration.email in message.to[0]
    filename, content, content_type = pdf_part(message)
    assert filename == f"certificate-{first.number}.pdf"
    assert content_type == "application/pdf"
    text = pdf_text(content)
    assert "Zoë Ångström" in text and first.number in text
    assert first.number in message.body
    assert f"/certificates/{first.number}/" in message.body
    assert "/r/manage/" in message.body  # the manage link, made when sent


def test_inside_a_transaction_the_email_waits_for_the_commit(
    completed, django_capture_on_commit_callbacks
):
    registration = completed()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            service.issue_certificate(registration.pk)
            assert mail.outbox == []
    assert len(mail.outbox) == 1


def test_the_email_log_keeps_no_pdf_and_no_personal_link(completed):
    certificate = service.issue_certificate(completed().pk)
    [email] = certificate_emails()
    assert email.attachments == []
    assert email.context["manage_url"] == outbox.PERSONAL_LINK
    assert email.context["certificate_number"] == certificate.number


@pytest.mark.parametrize(
    "state",
    [Registration.State.CONFIRMED, Registration.State.ELIGIBLE, Registration.State.PENDING_EMAIL],
)
def test_only_a_completed_registration_gets_a_certificate(december_class, state):
    registration = registration_in(state, december_class)
    with pytest.raises(service.CertificateRefused, match="only for a completed registration"):
        service.issue_certificate(registration.pk)
    assert not Certificate.objects.exists()
    assert not certificate_emails()


def test_numbers_are_random_unambiguous_and_unique(completed):
    numbers = {service.new_number() for _ in range(2000)}
    assert len(numbers) == 2000
    assert all(NUMBER.match(n) for n in numbers)
    assert all(len(n.replace("-", "")) >= 10 for n in numbers)
    assert not set("01ILOU") & set("".join(numbers))
    issued = [service.issue_certificate(completed(f"Ana{i}", "Test").pk) for i in range(3)]
    assert len({c.number for c in issued}) == 3
    assert all(NUMBER.match(c.number) for c in issued)


def test_a_number_collision_draws_again(completed, monkeypatch):
    taken = service.issue_certificate(completed("Ana", "Test").pk)
    drawn = iter([taken.number, taken.number, "2345-6789-ABCD"])
    monkeypatch.setattr(service, "new_number", lambda: next(drawn))
    again = service.issue_certificate(completed("Ben", "Sample").pk)
    assert again.number == "2345-6789-ABCD"


def test_typed_numbers_are_normalised_and_others_refused():
    assert service.normalise_number(" 7kqm x4pa-93td ") == "7KQM-X4PA-93TD"
    assert service.normalise_number("7KQMX4PA93TD") == "7KQM-X4PA-93TD"
    for bad in ["", "7KQM-X4PA-93T", "7KQM-X4PA-93TD0", "OOOO-IIII-1111", "../admin/"]:
        assert service.normalise_number(bad) == ""


def test_what_the_certificate_states_is_computed_and_frozen(completed, december_class):
    course = december_class.course
    course.minutes_per_credit = 50
    course.save()
    certificate = service.issue_certificate(completed("José", "Núñez").pk)
    assert certificate.name == "José Núñez"
    assert certificate.course_title == course.title
    assert certificate.dates_label == "December 12–13, 2024"
    assert certificate.contact_hours == Decimal("8.00")
    assert certificate.credits == Decimal("9.60")  # 2 × 240 minutes / 50
    assert certificate.ceus == Decimal("0.80")
    assert certificate.instructors == "Dana Cole, Lee Park"
    assert certificate.provider == "CIT Training Administration"
    course.title = "Renamed later"
    course.save()
    certificate.refresh_from_db()
    assert certificate.course_title != "Renamed later"


def test_revoking_needs_a_reason_and_is_recorded(completed, admin_user):
    certificate = service.issue_certificate(completed().pk)
    with pytest.raises(service.CertificateRefused):
        service.certificate_revoke(certificate, reason="  ", user=admin_user)
    revoked = service.certificate_revoke(certificate, reason="Day 2 not attended.", user=admin_user)
    assert revoked.revoked_at is not None and revoked.revoked_reason == "Day 2 not attended."
    latest = revoked.history.latest()
    assert latest.history_user == admin_user
    assert latest.history_change_reason == "Revoked: Day 2 not attended."
    again = service.certificate_revoke(revoked, reason="Other.", user=admin_user)
    assert again.revoked_at == revoked.revoked_at and again.revoked_reason == "Day 2 not attended."
    assert service.downloadable(revoked.registration) is None
    with pytest.raises(service.CertificateRefused, match="revoked"):
        service.certificate_reissue(revoked, user=admin_user)


def test_an_email_queued_before_a_revocation_is_not_sent(completed, admin_user):
    certificate = service.issue_certificate(completed().pk)  # no commit here: not sent yet
    service.certificate_revoke(certificate, reason="Issued by mistake.", user=admin_user)
    [email] = certificate_emails()
    outbox.email_send(email.pk)
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SKIPPED
    assert "revoked" in email.last_error
    assert mail.outbox == []


def test_reissue_keeps_the_number_takes_the_new_name_and_emails_once_per_reissue(
    completed, admin_user, django_capture_on_commit_callbacks
):
    registration = completed("Zoe", "Angstrom")
    with django_capture_on_commit_callbacks(execute=True):
        certificate = service.issue_certificate(registration.pk)
    Registration.objects.filter(pk=registration.pk).update(first_name="Zoë", last_name="Ångström")
    with django_capture_on_commit_callbacks(execute=True):
        reissued = service.certificate_reissue(certificate, user=admin_user)
    assert reissued.number == certificate.number and reissued.pk == certificate.pk
    assert reissued.name == "Zoë Ångström" and reissued.reissued_at is not None
    assert reissued.issued_at == certificate.issued_at
    assert reissued.history.latest().history_change_reason == "Reissued after a name correction."
    assert [e.status for e in certificate_emails()] == ["sent", "sent"]
    assert len(mail.outbox) == 2
    corrected = mail.outbox[1]
    assert "corrected" in corrected.subject
    text = pdf_text(pdf_part(corrected)[1])
    assert "Zoë Ångström" in text and certificate.number in text and "Reissued" in text
    with django_capture_on_commit_callbacks(execute=True):
        service.certificate_reissue(reissued, user=admin_user)
    assert len(certificate_emails()) == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_give_one_certificate_and_one_email(completed):
    registration = completed()
    barrier = threading.Barrier(6)
    numbers: list[str] = []
    lock = threading.Lock()

    def attempt():
        barrier.wait()
        try:
            number = service.issue_certificate(registration.pk).number
        finally:
            connection.close()
        with lock:
            numbers.append(number)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(numbers) == 6 and len(set(numbers)) == 1
    assert Certificate.objects.count() == 1
    assert len(certificate_emails()) == 1
    assert len(mail.outbox) == 1
