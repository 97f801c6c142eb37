"""Admin of certificates: list and search, download, revoke with a reason, reissue under the
same number, and who may do what."""

import io

import pypdf
import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail

from registrations import roles
from registrations.certificates import service
from registrations.certificates.models import Certificate
from registrations.models import Registration

pytestmark = pytest.mark.django_db
LIST = "/admin/registrations/certificate/"


@pytest.fixture
def certificate(completed):
    return service.issue_certificate(completed("Zoe", "Angstrom").pk)


@pytest.fixture
def administrator(staff):
    return staff("tess", groups=[roles.TRAINING_ADMINISTRATOR])


def test_the_list_searches_by_number_as_typed_and_by_name(administrator, certificate, completed):
    other = service.issue_certificate(completed("José", "Núñez").pk)
    page = administrator.get(LIST).content.decode()
    assert certificate.number in page and other.number in page
    typed = certificate.number.replace("-", " ").lower()
    found = administrator.get(LIST, {"q": typed}).content.decode()
    assert certificate.number in found and other.number not in found
    by_name = administrator.get(LIST, {"q": "Núñez"}).content.decode()
    assert other.number in by_name and certificate.number not in by_name


def test_an_administrator_downloads_the_pdf(administrator, certificate):
    page = administrator.get(f"{LIST}{certificate.pk}/change/").content.decode()
    assert f"{LIST}{certificate.pk}/pdf/" in page
    assert f"{LIST}{certificate.pk}/revoke/" in page
    response = administrator.get(f"{LIST}{certificate.pk}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert "Zoe Angstrom" in text and certificate.number in text


def test_revoking_asks_for_a_reason_and_records_it(administrator, certificate, client):
    url = f"{LIST}{certificate.pk}/revoke/"
    assert administrator.get(url).status_code == 200
    assert administrator.post(url, {"reason": ""}).status_code == 400
    assert Certificate.objects.get(pk=certificate.pk).revoked_at is None
    response = administrator.post(url, {"reason": "Day 2 attendance was wrong."})
    assert response.status_code == 302
    revoked = Certificate.objects.get(pk=certificate.pk)
    assert revoked.revoked_reason == "Day 2 attendance was wrong."
    assert revoked.history.latest().history_user == administrator.user
    assert LogEntry.objects.filter(object_id=str(certificate.pk)).exists()
    history = administrator.get(f"{LIST}{certificate.pk}/history/").content.decode()
    assert "Revoked: Day 2 attendance was wrong." in history
    public = client.get(f"/certificates/{certificate.number}/").content.decode()
    assert "This certificate was revoked" in public


def test_reissue_after_a_name_correction_keeps_the_number(
    administrator, certificate, django_capture_on_commit_callbacks
):
    Registration.objects.filter(pk=certificate.registration_id).update(
        first_name="Zoë", last_name="Ångström"
    )
    url = f"{LIST}{certificate.pk}/reissue/"
    preview = administrator.get(url).content.decode()
    assert "Zoe Angstrom" in preview and "Zoë Ångström" in preview
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert administrator.post(url).status_code == 302
    reissued = Certificate.objects.get(pk=certificate.pk)
    assert reissued.number == certificate.number
    assert reissued.name == "Zoë Ångström" and reissued.reissued_at is not None
    [message] = mail.outbox
    assert "corrected" in message.subject
    assert message.attachments[0].get_filename() == f"certificate-{certificate.number}.pdf"


def test_a_viewer_downloads_but_may_not_revoke_or_reissue(staff, certificate):
    viewer = staff("vic", perms=[roles.VIEW_CERTIFICATE])
    page = viewer.get(f"{LIST}{certificate.pk}/change/").content.decode()
    assert "/revoke/" not in page and "/reissue/" not in page
    assert viewer.get(f"{LIST}{certificate.pk}/pdf/").status_code == 200
    assert viewer.get(f"{LIST}{certificate.pk}/revoke/").status_code == 403
    assert viewer.post(f"{LIST}{certificate.pk}/revoke/", {"reason": "x"}).status_code == 403
    assert viewer.post(f"{LIST}{certificate.pk}/reissue/").status_code == 403
    assert Certificate.objects.get(pk=certificate.pk).revoked_at is None


@pytest.mark.parametrize("group", [roles.FINANCE, roles.ELIGIBILITY_REVIEWER, roles.INSTRUCTOR])
def test_other_roles_see_no_certificates(staff, certificate, group):
    member = staff("other", groups=[group])
    assert member.get(LIST).status_code == 403
    assert member.get(f"{LIST}{certificate.pk}/pdf/").status_code == 403
    assert member.post(f"{LIST}{certificate.pk}/revoke/", {"reason": "x"}).status_code == 403


def test_nobody_adds_edits_or_deletes_certificates_here(admin_client, certificate):
    assert admin_client.get(f"{LIST}add/").status_code == 403
    assert admin_client.post(f"{LIST}{certificate.pk}/delete/").status_code == 403
    admin_client.post(f"{LIST}{certificate.pk}/change/", {"name": "Someone Else"})
    assert Certificate.objects.get(pk=certificate.pk).name == "Zoe Angstrom"
