"""``registrations.views.confirm``: opening a link exchanges its token for a grant in the
browser's session and redirects to a page without the token, which opens only in that session
and only for the grant's purpose; GET never acts; expired links and grants stop working; old
links still act on POST; answers at token URLs send no ``Referer``."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from courses.models import Offering
from registrations import links
from registrations.models import Registration
from tests.registrations.helpers import link_from_outbox, open_link, open_offering, submit
from tests.registrations.stripe_helpers import eligible

S = Registration.State
pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def token_of(path: str) -> str:
    return re.search(r"/r/\w+/([^/]+)/", path).group(1)


def assert_no_access(response, registration: Registration) -> None:
    """The "open the link from your email" page: a form to ask for a new link, no data."""
    html = response.content.decode()
    assert response.status_code == 403
    assert "Open the link from your email" in html and 'action="/r/link/"' in html
    for private in (registration.full_name, registration.email, registration.employer_name,
                    registration.offering.course.title):  # fmt: skip
        assert private not in html


def test_a_manage_link_redirects_to_a_page_without_the_token(client, offering):
    registration = eligible(offering, first_name="Zoë", last_name="Quill")
    path = links.manage_path(registration)
    response = client.get(path)
    page_path = f"/r/manage/{registration.pk}/"
    assert (response.status_code, response["Location"]) == (303, page_path)
    assert response["Referrer-Policy"] == "no-referrer"
    assert response.cookies["sessionid"]["samesite"] == "Lax"
    page = client.get(page_path)
    html = page.content.decode()
    assert page.status_code == 200 and "Zoë Quill" in html
    assert "Pay $250 and take a seat" in html and 'name="cancel"' in html
    # The token is nowhere in the page: not in links, not in form actions.
    token = token_of(path)
    for part in token.split(":"):
        assert part not in html
    assert "/r/manage/ey" not in html
    # A HEAD is answered the same way, and changes nothing either.
    assert client.head(path).status_code == 303
    assert Registration.objects.get(pk=registration.pk).state == S.ELIGIBLE


def test_the_page_opens_only_in_the_browser_that_opened_the_link(client, offering):
    registration = eligible(offering)
    other = eligible(offering, email="ben@denver911.example.gov", first_name="Ben")
    open_link(client, links.manage_path(registration))
    page_path = links.manage_page_path(registration)
    assert client.get(page_path).status_code == 200
    assert_no_access(Client().get(page_path), registration)
    # Guessing another registration's id gets nothing, and nonexistent ids get the same page.
    assert_no_access(client.get(links.manage_page_path(other)), other)
    assert client.get("/r/manage/999999/").status_code == 403
    # Nor can another browser act.
    stranger = Client()
    response = stranger.post(page_path, {"cancel": "1"})
    assert response.status_code == 403
    assert Registration.objects.get(pk=registration.pk).state == S.ELIGIBLE


def test_buttons_on_the_page_without_the_token_act(client, offering):
    registration = eligible(offering)
    page = open_link(client, links.manage_path(registration))
    page_path = page.request["PATH_INFO"]
    response = client.post(page_path, {"cancel": "1"})
    assert (response.status_code, response["Location"]) == (302, page_path)
    assert Registration.objects.get(pk=registration.pk).state == S.CANCELLED
    assert "Your registration is cancelled." in client.get(page_path).content.decode()


def test_one_browser_holds_several_grants(client, offering):
    ana = eligible(offering)
    ben = eligible(offering, email="ben@denver911.example.gov", first_name="Ben")
    open_link(client, links.manage_path(ana))
    open_link(client, links.manage_path(ben))
    assert "Ana Test" in client.get(links.manage_page_path(ana)).content.decode()
    assert "Ben Test" in client.get(links.manage_page_path(ben)).content.decode()


def test_a_supervisors_grant_opens_only_the_supervisors_answer(
    client, offering, agency, django_capture_on_commit_callbacks
):
    registration = eligible(offering)
    Registration.objects.filter(pk=registration.pk).update(state=S.PENDING_REVIEW)
    page = open_link(client, links.supervisor_url(registration))
    assert page.request["PATH_INFO"] == f"/r/supervisor/{registration.pk}/"
    assert "Yes, Ana works here" in page.content.decode()
    # Not the attendee's page, nor its buttons, nor the attendee's confirmations.
    assert_no_access(client.get(links.manage_page_path(registration)), registration)
    client.post(links.manage_page_path(registration), {"cancel": "1"})
    assert client.get(f"/r/confirm/{registration.pk}/").status_code == 403
    assert client.get(f"/r/email/{registration.pk}/").status_code == 403
    assert Registration.objects.get(pk=registration.pk).state == S.PENDING_REVIEW
    # The supervisor's own answer works from the token-less page.
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(page.request["PATH_INFO"])
    assert "You confirmed that Ana Test works at" in done.content.decode()
    assert Registration.objects.get(pk=registration.pk).supervisor_confirmed_at


def test_get_never_acts(client, offering, agency, django_capture_on_commit_callbacks):
    submit(client, offering, django_capture_on_commit_callbacks)
    path = link_from_outbox("ana.test@denver911.example.gov", "/r/confirm/")
    for _ in range(2):
        page = open_link(client, path)
        assert b"Confirm my work email" in page.content
        client.get(page.request["PATH_INFO"])
    assert Registration.objects.get().state == S.PENDING_EMAIL
    registration = Registration.objects.get()
    open_link(client, links.manage_path(registration) + "leave-waitlist/")
    assert Registration.objects.get().state == S.PENDING_EMAIL


def test_confirming_the_work_email_grants_the_manage_page(
    client, offering, agency, django_capture_on_commit_callbacks
):
    submit(client, offering, django_capture_on_commit_callbacks)
    page = open_link(client, link_from_outbox("ana.test@denver911.example.gov", "/r/confirm/"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page.request["PATH_INFO"])
    registration = Registration.objects.get()
    assert response["Location"] == links.manage_page_path(registration)
    manage = client.get(response["Location"]).content.decode()
    assert "Thank you: your work email is confirmed." in manage
    assert "Pay $250 and take a seat" in manage


def test_expired_links_and_grants_stop_working(client, offering, settings):
    registration = eligible(offering)
    page_path = links.manage_page_path(registration)
    open_link(client, links.manage_path(registration))
    # A grant ends with the session (``SESSION_COOKIE_AGE``) ...
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)):
        assert client.get(page_path).status_code == 403
    # ... and, in a longer session, when its link would have (30 days after the class).
    settings.SESSION_COOKIE_AGE = 3 * 365 * 24 * 3600
    open_link(client, links.manage_path(registration))
    with time_machine.travel(offering.ends_at() + timedelta(days=29)):
        assert client.get(page_path).status_code == 200
    with time_machine.travel(offering.ends_at() + timedelta(days=31)):
        expired_grant = client.get(page_path)
        expired_link = client.get(links.manage_path(registration))
    assert expired_grant.status_code == 410 and "has expired" in expired_grant.content.decode()
    assert expired_link.status_code == 410 and "Email me my link" in expired_link.content.decode()
    # A work-email grant ends 48 hours after its link was made.
    Registration.objects.filter(pk=registration.pk).update(state=S.PENDING_EMAIL)
    confirm = open_link(client, links.work_email_url(registration)).request["PATH_INFO"]
    with time_machine.travel(timezone.now() + timedelta(hours=47)):
        assert client.get(confirm).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        assert client.post(confirm).status_code == 410
    assert Registration.objects.get(pk=registration.pk).state == S.PENDING_EMAIL


def test_a_changed_address_ends_the_grant(client, offering):
    registration = eligible(offering)
    open_link(client, links.manage_path(registration))
    Registration.objects.filter(pk=registration.pk).update(email="new@denver911.example.gov")
    response = client.get(links.manage_page_path(registration))
    assert response.status_code == 410 and "since changed" in response.content.decode()


def test_old_links_still_act_on_post_with_csrf(offering):
    registration = eligible(offering)
    path = links.manage_path(registration)
    browser = Client(enforce_csrf_checks=True)
    page = open_link(browser, path)  # stands in for a page opened before grants existed
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    assert Client(enforce_csrf_checks=True).post(path, {"cancel": "1"}).status_code == 403
    assert Registration.objects.get(pk=registration.pk).state == S.ELIGIBLE
    # The POST is resubmitted (307 keeps method and form) to the page without the token, which
    # it granted, and acts there.
    data = {"cancel": "1", "csrfmiddlewaretoken": csrf}
    response = browser.post(path, data)
    assert (response.status_code, response["Location"]) == (
        307,
        links.manage_page_path(registration),
    )
    assert response["Referrer-Policy"] == "same-origin"  # no-referrer would null POST's Origin
    assert Registration.objects.get(pk=registration.pk).state == S.ELIGIBLE  # not yet
    done = browser.post(path, data, follow=True)
    assert "Your registration is cancelled." in done.content.decode()
    assert Registration.objects.get(pk=registration.pk).state == S.CANCELLED
    # A browser that never opened the page gets the grant from the POST alone.
    fresh = Client()
    fresh.post(path, {"save_details": "1", "first_name": "X", "last_name": "Y", "phone": ""})
    assert fresh.get(links.manage_page_path(registration)).status_code == 200


def test_referrer_policy_of_token_urls(client, offering):
    registration = eligible(offering)
    # A link that does not work shows its page at the token URL: same-origin (its form posts;
    # the dead token goes at most to this site).
    tampered = links.manage_path(registration)[:-4] + "xx/"
    response = client.get(tampered)
    assert response.status_code == 400 and response["Referrer-Policy"] == "same-origin"
    assert client.get(links.manage_path(registration))["Referrer-Policy"] == "no-referrer"


def test_an_old_stripe_return_url_with_a_token_still_works(client, offering):
    registration = eligible(offering)
    old = links.manage_path(registration) + "payment/?session_id=cs_test_1"
    response = client.get(old)
    assert response["Location"] == f"/r/manage/{registration.pk}/payment/?session_id=cs_test_1"
    assert "Payment not completed" in client.get(response["Location"]).content.decode()
