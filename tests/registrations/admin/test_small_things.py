"""Small things in the admin: money in dollars (shown and typed), sessions typed as a date and a
start time, registration close derived visibly, class pickers and lists upcoming first without
long-past classes unless asked, times with their zone, keyboard-scrollable tables."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from courses.models import Course, Offering
from registrations.payments.models import Payment, Refund
from tests.factories import make_offering, next_date
from tests.registrations.helpers import CONFIRM, change_form, open_offering

from .conftest import under_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def offering(course) -> Offering:
    return open_offering(course)


def paid(registration) -> Payment:
    payment = Payment.objects.create(
        registration=registration, status=Payment.Status.PAID, amount_cents=25000,
        amount_refunded_cents=1050, idempotency_key=f"t:{registration.pk}",
        stripe_payment_intent_id="pi_t", paid_at=timezone.now(),
    )  # fmt: skip
    Refund.objects.create(payment=payment, amount_cents=1050, reason="x", idempotency_key="r:1")
    return payment


def test_money_is_in_dollars_on_every_page(admin_client, offering, course):
    registration = under_review(offering)
    payment = paid(registration)
    refund = payment.refunds.get()
    pages = [
        "/admin/registrations/payment/", f"/admin/registrations/payment/{payment.pk}/change/",
        "/admin/registrations/refund/", f"/admin/registrations/refund/{refund.pk}/change/",
        f"/admin/registrations/registration/{registration.pk}/change/",
        f"/admin/courses/course/{course.pk}/change/",
    ]  # fmt: skip
    for url in pages:
        html = admin_client.get(url).content.decode()
        assert not re.search(r"(?i)amount[ _]cents|tuition[ _]cents|refunded[ _]cents", html), url
    assert "$250.00" in admin_client.get(pages[1]).content.decode()
    assert "$10.50" in admin_client.get(pages[3]).content.decode()


def test_the_course_form_takes_dollars(admin_client, course):
    page = admin_client.get(f"/admin/courses/course/{course.pk}/change/")
    form = page.context["adminform"].form
    assert str(form["tuition"].value()) in ("250", "250.00", "250.0")
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["tuition"] = "199.50"
    response = admin_client.post(f"/admin/courses/course/{course.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Course.objects.get(pk=course.pk).tuition_cents == 19950
    for free in ("0", "0.49"):  # below Stripe's smallest card payment: refused, kept as typed
        data["tuition"] = free
        response = admin_client.post(f"/admin/courses/course/{course.pk}/change/", data)
        assert response.status_code == 200
        assert "greater than or equal to 0.5" in response.content.decode()
    assert Course.objects.get(pk=course.pk).tuition_cents == 19950


def test_a_session_is_typed_as_a_date_and_a_start_time(admin_client, course):
    offering = make_offering(course, date(2027, 3, 18))
    page = admin_client.get(f"/admin/courses/offering/{offering.pk}/change/").content.decode()
    assert "Start time (America/Denver, M" in page and 'name="sessions-0-day"' in page
    assert "Ends (from the course" in page
    data = change_form(offering)
    data["sessions-0-start"] = data["sessions-1-start"] = "10:30"
    response = admin_client.post(f"/admin/courses/offering/{offering.pk}/change/", data)
    assert response.status_code == 302
    first = Offering.objects.get(pk=offering.pk).session_list[0]
    local = first.starts_at.astimezone(offering.zone), first.ends_at.astimezone(offering.zone)
    assert (f"{local[0]:%H:%M}", f"{local[1]:%H:%M}") == ("10:30", "14:30")  # 240 minutes


def test_a_derived_close_is_shown_and_said_when_it_moves(admin_client, course):
    offering = make_offering(course, date(2027, 3, 18))
    page = admin_client.get(f"/admin/courses/offering/{offering.pk}/change/").content.decode()
    assert "24 hours before the first session: Wednesday, March 17, 2027, 9:00 am MDT" in page
    assert "the date above follows this rule" in page
    response = admin_client.post(
        f"/admin/courses/offering/{offering.pk}/change/",
        {**change_form(offering, shift=timedelta(days=1)), **CONFIRM},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any(
        "Registration now closes Thursday, March 18, 2027, 9:00 am MDT" in m for m in messages
    )


def test_a_close_set_by_hand_is_kept_but_must_come_before_the_first_session(admin_client, course):
    offering = make_offering(course, date(2027, 3, 18))
    hand = offering.registration_closes_at - timedelta(days=2)
    Offering.objects.filter(pk=offering.pk).update(registration_closes_at=hand)
    offering.refresh_from_db()
    url = f"/admin/courses/offering/{offering.pk}/change/"
    assert "set by hand" in admin_client.get(url).content.decode()
    admin_client.post(url, {**change_form(offering, shift=timedelta(days=1)), **CONFIRM})
    assert Offering.objects.get(pk=offering.pk).registration_closes_at == hand
    offering.refresh_from_db()
    response = admin_client.post(url, change_form(offering, shift=timedelta(days=-40)))
    assert response.status_code == 200
    assert "Registration must close before the first session starts" in response.content.decode()


@pytest.fixture
def classes(course) -> dict[str, Offering]:
    today = date.today()
    return {
        "old": make_offering(course, date(2024, 6, 6)),
        "recent": make_offering(course, today - timedelta(days=10)),
        "later": make_offering(course, next_date(9, 8)),
        "soon": make_offering(course, today + timedelta(days=31)),
    }


def positions(html: str, offerings: list[Offering], pattern: str) -> list[int]:
    return [html.find(pattern.format(pk=o.pk)) for o in offerings]


def test_the_offerings_list_is_upcoming_first_without_long_past_classes(admin_client, classes):
    html = admin_client.get("/admin/courses/offering/").content.decode()
    soon, later, recent, old = positions(
        html, [classes[k] for k in ("soon", "later", "recent", "old")],
        "/admin/courses/offering/{pk}/change/",
    )  # fmt: skip
    assert old == -1 and 0 < soon < later < recent
    html = admin_client.get("/admin/courses/offering/?when=all").content.decode()
    order = positions(
        html, [classes[k] for k in ("soon", "later", "recent", "old")],
        "/admin/courses/offering/{pk}/change/",
    )  # fmt: skip
    assert 0 < order[0] < order[1] < order[2] < order[3]
    assert "Upcoming and last month&#x27;s" in html or "Upcoming and last month's" in html


def test_class_filters_and_pickers_list_upcoming_first(admin_client, classes):
    page = admin_client.get("/admin/registrations/registration/")
    html = page.content.decode()
    link = "offering__id__exact={pk}"
    soon, later, recent, old = positions(
        html, [classes[k] for k in ("soon", "later", "recent", "old")], link
    )
    assert old == -1 and 0 < soon < later < recent
    html = admin_client.get("/admin/registrations/registration/?classes=all").content.decode()
    assert positions(html, [classes["old"]], link)[0] > 0

    def picker(url: str) -> list[int]:
        form = admin_client.get(url).context["adminform"].form
        return [int(str(pk)) for pk, _ in form.fields["offering"].choices if pk]

    add = "/admin/registrations/broadcast/add/"
    upcoming = [classes[k].pk for k in ("soon", "later", "recent")]
    assert picker(add) == upcoming  # the class that ended long ago is left out...
    old = classes["old"].pk
    assert picker(f"{add}?older_classes=1") == [*upcoming, old]  # ...unless asked
    assert picker(f"{add}?offering={old}") == [*upcoming, old]  # or opened from it


def test_lists_show_times_with_their_zone_and_scroll_with_the_keyboard(admin_client, offering):
    under_review(offering)
    html = admin_client.get("/admin/registrations/registration/").content.decode()
    assert re.search(r"\d{1,2}:\d{2} [ap]m M[SD]T", html)
    assert re.search(r'<div class="results" tabindex="0" role="region" aria-label="[^"]+"', html)
    page = admin_client.get(f"/admin/courses/offering/{offering.pk}/change/").content.decode()
    assert 'class="wrapper" tabindex="0" role="region"' in page
    assert "Mountain Time (America/Denver, M" in page  # date-and-time fields say their zone
    assert "/static/css/admin.css" in page
