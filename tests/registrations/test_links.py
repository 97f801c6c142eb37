"""``registrations.links``: signed links expire, cannot be tampered with or reused for another
purpose, hide the address, and die with an address change; the session grants they are
exchanged for keep the token's purpose, address and expiry, and several live side by side."""

import base64
import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from courses.models import Offering
from registrations import intake, links
from registrations.models import Registration
from tests.registrations.helpers import link_from_outbox, open_offering, submit
from tests.registrations.stripe_helpers import eligible

S = Registration.State


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def token_of(url: str) -> str:
    """The token in a link (its path ends ``/<token>/``)."""
    return url.rstrip("/").rsplit("/", 1)[1]


@pytest.mark.django_db
def test_expired_and_tampered_links(client, offering, django_capture_on_commit_callbacks):
    submit(client, offering, django_capture_on_commit_callbacks)
    path = link_from_outbox("ana.test@denver911.example.gov", "/r/confirm/")
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        expired = client.post(path)
    assert expired.status_code == 410
    assert "This link has expired" in expired.content.decode()
    assert "Email me my link" in expired.content.decode()
    tampered = client.post(path[:-3] + "xx/")
    assert tampered.status_code == 400
    assert "not valid" in tampered.content.decode()
    assert Registration.objects.get().state == S.PENDING_EMAIL
    # A manage link cannot be used as a confirmation link (different purpose, different salt).
    registration = Registration.objects.get()
    token = token_of(links.manage_url(registration))
    assert client.post(f"/r/confirm/{token}/").status_code == 400


@pytest.mark.django_db
def test_manage_link_expires_30_days_after_the_class(offering):
    registration = eligible(offering)
    token = token_of(links.manage_path(registration))
    with time_machine.travel(offering.ends_at() + timedelta(days=29)):
        target = links.read_link(links.MANAGE, token)
    assert target.expires_at == int((offering.ends_at() + timedelta(days=30)).timestamp())
    with time_machine.travel(offering.ends_at() + timedelta(days=31)):
        with pytest.raises(links.LinkError) as error:
            links.read_link(links.MANAGE, token)
    assert error.value.expired


@pytest.mark.django_db
def test_email_links_expire_48_hours_after_they_were_made(offering):
    registration = eligible(offering)
    made = time.time()
    target = links.read_link(links.WORK_EMAIL, token_of(links.work_email_url(registration)))
    assert made - 1 <= target.expires_at - 48 * 3600 <= time.time()
    supervisor = links.read_link(links.SUPERVISOR, token_of(links.supervisor_url(registration)))
    assert made - 1 <= supervisor.expires_at - 7 * 24 * 3600 <= time.time()


@pytest.mark.django_db
def test_links_do_not_show_the_address(offering):
    registration = eligible(offering, email="private.person@example.org")
    token = token_of(links.work_email_url(registration))
    payload = token.split(":")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"@" not in decoded and json.loads(decoded)["r"] == registration.pk


@pytest.mark.django_db(transaction=True)
def test_old_manage_links_stop_working_after_an_email_change(course):
    registration = eligible(open_offering(course))
    token = token_of(links.manage_path(registration))
    intake.email_change_request(registration, "new-address@denver911.example.gov")
    registration.refresh_from_db()
    intake.email_change_confirm(registration)
    with pytest.raises(links.LinkError):
        links.read_link(links.MANAGE, token)


@settings(max_examples=60, deadline=None)
@given(token=st.text(min_size=0, max_size=200))
def test_any_text_as_a_token_is_a_link_error(token):
    # No database needed: a token that does not verify never reaches a query.
    for purpose in links.PAGES:
        with pytest.raises(links.LinkError):
            links.read_link(purpose, token)


@pytest.mark.django_db
def test_grants_keep_purpose_registration_and_expiry(offering):
    ana = eligible(offering, email="ana@denver911.example.gov")
    ben = eligible(offering, email="ben@denver911.example.gov")
    session = SessionStore()
    with pytest.raises(links.NoGrant):
        links.read_grant(session, links.MANAGE, ana.pk)
    links.grant(
        session, links.MANAGE, links.read_link(links.MANAGE, token_of(links.manage_url(ana)))
    )
    supervisor = links.read_link(links.SUPERVISOR, token_of(links.supervisor_url(ben)))
    links.grant(session, links.SUPERVISOR, supervisor)
    # Several grants in one session, each only for its own registration and purpose.
    assert links.read_grant(session, links.MANAGE, ana.pk).registration == ana
    assert links.read_grant(session, links.SUPERVISOR, ben.pk).registration == ben
    for purpose, pk in [(links.MANAGE, ben.pk), (links.SUPERVISOR, ana.pk),
                        (links.WORK_EMAIL, ana.pk), (links.MANAGE, 10**9)]:  # fmt: skip
        with pytest.raises(links.NoGrant):
            links.read_grant(session, purpose, pk)
    # The grant ends when the token would have.
    with time_machine.travel(supervisor.expires_at - 60):
        assert links.read_grant(session, links.SUPERVISOR, ben.pk).expires_at == int(
            supervisor.expires_at
        )
    with time_machine.travel(supervisor.expires_at + 1):
        with pytest.raises(links.LinkError) as error:
            links.read_grant(session, links.SUPERVISOR, ben.pk)
        assert error.value.expired and not isinstance(error.value, links.NoGrant)
        # A new grant drops the expired ones.
        links.grant_manage(session, ben)
        assert set(session[links.GRANTS_SESSION_KEY]) == {
            f"{links.MANAGE}:{ana.pk}",
            f"{links.MANAGE}:{ben.pk}",
        }


@pytest.mark.django_db
def test_a_grant_dies_with_an_address_change_and_holds_no_address(offering):
    registration = eligible(offering, email="private.person@denver911.example.gov")
    session = SessionStore()
    links.grant_manage(session, registration)
    assert "private.person" not in json.dumps(session[links.GRANTS_SESSION_KEY])
    Registration.objects.filter(pk=registration.pk).update(email="someone.else@example.org")
    with pytest.raises(links.LinkError, match="address that has since changed"):
        links.read_grant(session, links.MANAGE, registration.pk)
    Registration.objects.filter(pk=registration.pk).delete()
    with pytest.raises(links.LinkError, match="no longer exists"):
        links.read_grant(session, links.MANAGE, registration.pk)


@pytest.mark.django_db
def test_a_grant_renews_the_session_key(offering):
    session = SessionStore()
    session["something"] = "kept"
    session.save()
    planted = session.session_key
    links.grant_manage(session, eligible(offering))
    session.save()
    assert session.session_key != planted and session["something"] == "kept"
    assert not SessionStore().exists(planted)


def test_object_links_keep_their_purpose_address_and_expiry(db):
    until = timezone.now() + timedelta(days=3)
    url = links.object_url(
        "registrations:substitute", "registrations.substitution", 7, "Ana@Agency.example", until
    )
    token = token_of(url)
    link = links.read_object_link("registrations.substitution", token)

    assert (link.pk, int(link.expires_at)) == (7, int(until.timestamp()))
    assert link.made_for("ana@agency.example") and not link.made_for("bo@agency.example")
    assert (
        "agency"
        not in base64.urlsafe_b64decode(token.split(":")[0] + "==").decode(errors="replace").lower()
    )
    with pytest.raises(links.LinkError):
        links.read_object_link("registrations.class-cancellation", token)
    with pytest.raises(links.LinkError):
        links.read_object_link("registrations.substitution", token[:-2] + "xx")
    with time_machine.travel(until + timedelta(seconds=1)), pytest.raises(links.LinkError) as exc:
        links.read_object_link("registrations.substitution", token)
    assert exc.value.expired


def test_object_grants_are_per_purpose_and_object_and_expire(db):
    session = SessionStore()
    session.create()
    until = timezone.now() + timedelta(hours=1)
    token = token_of(
        links.object_url(
            "registrations:substitute", "registrations.substitution", 3, "a@b.example", until
        )
    )
    links.grant_object(
        session,
        "registrations.substitution",
        links.read_object_link("registrations.substitution", token),
    )

    granted = links.read_object_grant(session, "registrations.substitution", 3)
    assert granted.made_for("a@b.example")
    with pytest.raises(links.NoGrant):
        links.read_object_grant(session, "registrations.substitution", 4)
    with pytest.raises(links.NoGrant):
        links.read_object_grant(session, "registrations.class-cancellation", 3)
    with time_machine.travel(until + timedelta(seconds=1)), pytest.raises(links.LinkError):
        links.read_object_grant(session, "registrations.substitution", 3)
