"""The eligibility review page: what the registrant gave, the domain's and the supervisor's
standing, earlier decisions for the same domain, the place in the queue, and buttons that do
what the list actions do through the same services (``registrations.eligibility``)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from registrations import eligibility, roles
from registrations.messaging.models import OutboundEmail
from registrations.models import AgencyDomain, Registration, RegistrationEvent
from tests.registrations.helpers import open_offering

from .conftest import under_review

pytestmark = pytest.mark.django_db
S = Registration.State
QUEUE = "/admin/registrations/registrationunderreview/"
LIST = "/admin/registrations/registration/"


@pytest.fixture
def offering(course):
    return open_offering(course)


@pytest.fixture
def reviewer(staff):
    return staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER])


def page_of(client, registration, base=QUEUE) -> str:
    response = client.get(f"{base}{registration.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_review_page_shows_what_the_registrant_gave(staff, reviewer, offering):
    ana = under_review(
        offering, work_email="ana@county-psap.example", employer_name="County PSAP",
        supervisor_name="Sam Boss", supervisor_email="sam@county-psap.example",
    )  # fmt: skip
    html = page_of(reviewer, ana)
    assert "Eligibility review" in html
    assert "County PSAP" in html and Registration.Role.CALL_TAKER.label in html
    assert "ana@county-psap.example" in html and "Confirmed " in html
    assert "county-psap.example: not a known agency domain" in html
    assert "Sam Boss" in html and "Not asked" in html
    assert "1 of 1 waiting" in html
    assert ">Approve</button>" in html and ">Reject with a reason</button>" in html
    assert "Approve and list the domain" not in html  # reviewers may not list domains
    admin = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    assert ">Approve and list the domain county-psap.example</button>" in page_of(admin, ana)


def test_a_supervisor_asked_and_one_who_answered_are_told_apart(reviewer, offering):
    ana = under_review(offering)
    OutboundEmail.objects.create(
        kind="supervisor_confirmation", to_email=ana.supervisor_email, template="x",
        context={}, dedupe_key=f"sup:{ana.pk}", registration=ana,
    )  # fmt: skip
    assert "Asked to confirm; no answer yet" in page_of(reviewer, ana)
    Registration.objects.filter(pk=ana.pk).update(supervisor_confirmed_at=timezone.now())
    assert "Confirmed the employment" in page_of(reviewer, ana)


def test_earlier_decisions_for_the_same_domain_are_listed(reviewer, offering):
    earlier = under_review(offering, work_email="old@county-psap.example", first_name="Olga")
    eligibility.review_reject(earlier, staff_user=reviewer.user, reason="Not a dispatch center.")
    other = under_review(offering, work_email="x@elsewhere.example", first_name="Xavier")
    eligibility.review_approve(other, staff_user=reviewer.user)
    ana = under_review(offering, work_email="ana@County-PSAP.example")
    html = page_of(reviewer, ana)
    assert "Olga" in html and "Rejected" in html and "Not a dispatch center." in html
    assert "Xavier" not in html


def test_webmail_has_no_similar_decisions_and_cannot_be_listed(reviewer, offering):
    earlier = under_review(offering, work_email="someone@gmail.com", first_name="Gina")
    eligibility.review_approve(earlier, staff_user=reviewer.user)
    ana = under_review(offering, work_email="ana@gmail.com")
    html = page_of(reviewer, ana)
    assert "webmail" in html and "Gina" not in html
    assert "Approve and list the domain" not in html


def test_next_and_previous_follow_the_queue_oldest_first(reviewer, offering):
    first, second, third = (under_review(offering) for _ in range(3))
    # The oldest is the one that entered review first, whatever its id.
    RegistrationEvent.objects.filter(registration=third, to_state=S.PENDING_REVIEW).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    order = [p.pk for p in eligibility.review_queue()]
    assert order == [third.pk, first.pk, second.pk]
    html = page_of(reviewer, first)
    assert f"{QUEUE}{third.pk}/change/" in html and f"{QUEUE}{second.pk}/change/" in html
    assert "2 of 3 waiting" in html
    listing = reviewer.get(QUEUE).content.decode()
    assert "3 days" in listing  # the waiting column
    assert listing.index(f"{QUEUE}{third.pk}/") < listing.index(f"{QUEUE}{first.pk}/")


def decide(client, registration, base=QUEUE, **data):
    return client.post(f"{base}{registration.pk}/review/", data)


@pytest.mark.parametrize("base", [QUEUE, LIST])
def test_the_buttons_call_the_services_the_actions_call(staff, offering, base):
    admin = staff("trainer", groups=[roles.TRAINING_ADMINISTRATOR])
    by_button = [under_review(offering, work_email=f"b{i}@county-psap.example") for i in range(3)]
    by_action = [under_review(offering, work_email=f"a{i}@county-psap.example") for i in range(3)]
    approve = mock.patch.object(eligibility, "review_approve", wraps=eligibility.review_approve)
    reject = mock.patch.object(eligibility, "review_reject", wraps=eligibility.review_reject)
    with approve as approved, reject as rejected:
        decide(admin, by_button[0], base, decision="approve")
        decide(admin, by_button[1], base, decision="approve_and_list_domain")
        decide(admin, by_button[2], base, decision="reject", reason="Not a 911 center.")
        admin.post(base, {"action": "approve", "_selected_action": [by_action[0].pk]})
        admin.post(base, {"action": "approve_and_list_domain",
                          "_selected_action": [by_action[1].pk]})  # fmt: skip
        admin.post(base, {"action": "reject", "_selected_action": [by_action[2].pk],
                          "reason": "Not a 911 center."})  # fmt: skip
    calls = [(c.args[0].pk, c.kwargs) for c in approved.call_args_list]
    assert [kw["add_domain"] for _, kw in calls] == [False, True, False, True]
    assert [c.kwargs["reason"] for c in rejected.call_args_list] == ["Not a 911 center."] * 2
    for button, action in zip(by_button, by_action, strict=True):
        b, a = (Registration.objects.get(pk=r.pk) for r in (button, action))
        assert b.state == a.state
        assert b.events.last().reason == a.events.last().reason
        kinds = {r.pk: set(r.emails.values_list("kind", flat=True)) for r in (b, a)}
        assert kinds[b.pk] == kinds[a.pk]
    assert AgencyDomain.objects.filter(domain="county-psap.example").exists()


def test_a_decision_opens_the_next_in_the_queue_then_the_queue(reviewer, offering):
    ana, ben = under_review(offering), under_review(offering)
    response = decide(reviewer, ana, decision="approve")
    assert response.status_code == 302 and response["Location"] == f"{QUEUE}{ben.pk}/change/"
    response = decide(reviewer, ben, decision="reject", reason="No.")
    assert response["Location"] == QUEUE
    assert Registration.objects.get(pk=ben.pk).state == S.REJECTED


def test_reject_without_a_reason_changes_nothing(reviewer, offering):
    ana = under_review(offering)
    response = decide(reviewer, ana, decision="reject", reason="  ")
    assert response.status_code == 302
    assert Registration.objects.get(pk=ana.pk).state == S.PENDING_REVIEW


def test_the_buttons_need_the_review_permissions(staff, offering):
    ana = under_review(offering)
    viewer = staff("viewer", perms=["registrations.view_registration"])
    assert decide(viewer, ana, LIST, decision="approve").status_code == 403
    assert "Eligibility review" not in page_of(viewer, ana, LIST)
    reviewer = staff("reviewer", groups=[roles.ELIGIBILITY_REVIEWER])
    assert decide(reviewer, ana, decision="approve_and_list_domain").status_code == 403
    assert Registration.objects.get(pk=ana.pk).state == S.PENDING_REVIEW
    assert decide(reviewer, ana, decision="something").status_code == 400
