"""Cancelling a class: ten registrants in mixed states, each handled once; paid ones refunded
exactly once at the Stripe stand-in even when the work runs twice or stops midway; the
choice pages (move or refund); the refund of those who did not choose by the deadline."""

from datetime import timedelta
from unittest import mock

import icalendar
import pytest
import time_machine
from django.utils import timezone

from courses.models import Offering
from registrations.changes import class_cancellation as service
from registrations.changes import transfers
from registrations.changes.models import CancellationChoice, ClassCancellation, Transfer
from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import render_email
from registrations.models import Registration, RegistrationEvent, User
from registrations.payments import checkout
from registrations.payments.models import Payment, Refund
from registrations.transitions import Actor
from tests.factories import make_offering, next_date, registration_in
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import confirmed, eligible

S = Registration.State
Outcome = CancellationChoice.Outcome
# Real commits: the task, emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("office", "office@example.org", is_staff=True)


@pytest.fixture
def ten(course, standin, client):
    """A class with ten registrations: four confirmed and paid at the stand-in, one holding a
    seat with an open checkout, one waitlisted, three waiting for eligibility and one already
    cancelled."""
    offering = open_offering(course)
    paid = [
        confirmed(offering, standin, client, email=f"paid{n}@denver911.example.gov")
        for n in range(4)
    ]
    held = eligible(offering, email="held@denver911.example.gov")
    checkout.checkout_start(held)
    others = [
        registration_in(S.WAITLISTED, offering),
        registration_in(S.PENDING_EMAIL, offering),
        registration_in(S.PENDING_REVIEW, offering),
        registration_in(S.ELIGIBLE, offering),
        registration_in(S.CANCELLED, offering),
    ]
    return offering, paid, held, others


def standin_refunds(standin) -> list[tuple[str, int]]:
    return sorted((r["payment_intent"], r["amount"]) for r in standin.store.refunds.values())


def class_cancelled_emails() -> list[OutboundEmail]:
    return list(OutboundEmail.objects.filter(kind="class_cancelled").order_by("pk"))


def test_the_preview_counts_active_registrations_and_the_money(ten):
    offering, *_ = ten
    preview = service.cancellation_preview(offering)
    assert preview.total == 9
    assert preview.counts == {
        "confirmed": 4, "held": 1, "waitlisted": 1, "pending_email": 1, "pending_review": 1,
        "eligible": 1,
    }  # fmt: skip
    assert preview.paid_cents == 4 * Payment.objects.filter(status="paid").first().amount_cents


def test_refund_everyone_twice_and_interrupted_refunds_each_paid_one_once(ten, standin, staff):
    offering, paid, held, others = ten
    real_handle = service._handle
    calls = {"n": 0}

    def dies_after_four(cancellation, registration_id):
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("worker killed")
        return real_handle(cancellation, registration_id)

    with mock.patch.object(service, "_enqueue"):  # the task is lost at first
        cancellation = service.class_cancel(
            offering, reason="Too few.", refund_everyone=True, staff_user=staff
        )
    with mock.patch.object(service, "_handle", dies_after_four), pytest.raises(RuntimeError):
        service.cancellation_run(cancellation.pk)
    offering.refresh_from_db()
    assert offering.status == Offering.Status.CANCELLED
    assert CancellationChoice.objects.count() == 4
    # Rerun twice (the action again, then the task directly).
    service.class_cancel(offering, reason="Other text", refund_everyone=False, staff_user=staff)
    cancellation = ClassCancellation.objects.get()
    service.cancellation_run(cancellation.pk)

    assert ClassCancellation.objects.count() == 1 and cancellation.reason == "Too few."
    payments = Payment.objects.filter(status="paid").order_by("pk")
    assert standin_refunds(standin) == sorted(
        (p.stripe_payment_intent_id, p.amount_cents) for p in payments
    )
    assert Refund.objects.filter(status="succeeded").count() == 4
    for registration in paid:
        registration.refresh_from_db()
        assert registration.state == S.REFUNDED
    held.refresh_from_db()
    assert held.state == S.CANCELLED and held.hold_expires_at is None
    assert Payment.objects.get(registration=held).status == Payment.Status.EXPIRED
    states = {r.pk: Registration.objects.get(pk=r.pk).state for r in others}
    assert list(states.values()) == [S.CANCELLED] * 5
    # Nine handled (the one cancelled before is left alone), each emailed once.
    choices = CancellationChoice.objects.filter(cancellation=cancellation)
    assert choices.count() == 9
    emails = class_cancelled_emails()
    assert sorted(e.registration_id for e in emails) == sorted(c.registration_id for c in choices)
    assert {e.dedupe_key for e in emails} == {
        f"class_cancelled:{cancellation.pk}:{c.registration_id}" for c in choices
    }
    progress = service.cancellation_progress(cancellation)
    assert (progress.total, progress.notified, progress.settled) == (9, 9, 9)
    assert (progress.waiting, progress.failed, progress.remaining) == (0, 0, 0)
    cancellation.refresh_from_db()
    assert cancellation.notified_at and cancellation.finished_at
    waitlisted = next(e for e in emails if e.registration_id == others[0].pk)
    assert waitlisted.context["variant"] == "waitlist"


def test_a_refund_requested_before_the_worker_died_is_issued_once(ten, standin, staff):
    offering, paid, *_ = ten
    with mock.patch.object(service, "_enqueue"):
        cancellation = service.class_cancel(
            offering, reason="Flood.", refund_everyone=True, staff_user=staff
        )
    with mock.patch.object(service, "_issue_refunds", side_effect=RuntimeError("killed")):
        with pytest.raises(RuntimeError):
            service.cancellation_run(cancellation.pk)
    assert Refund.objects.filter(status="pending").count() == 1
    assert standin_refunds(standin) == []
    service.cancellation_run(cancellation.pk)
    service.cancellation_run(cancellation.pk)
    assert len(standin_refunds(standin)) == 4
    assert Refund.objects.count() == 4


def test_confirmed_registrants_get_a_choice_with_a_calendar_cancellation(ten, staff):
    offering, paid, *_ = ten
    cancellation = service.class_cancel(
        offering, reason="The instructor is ill.", refund_everyone=False, staff_user=staff
    )
    choice = CancellationChoice.objects.get(registration=paid[0])
    assert (choice.state_before, choice.choice, choice.outcome) == ("confirmed", "pending", "open")
    email = OutboundEmail.objects.get(kind="class_cancelled", registration=paid[0])
    assert email.context["move_url"] == "[personal link]"  # made when sent
    calendar = icalendar.Calendar.from_ical(email.attachments[0]["content"])
    assert str(calendar["METHOD"]) == "CANCEL"
    links = service._with_choice_links(email)
    assert "/r/class-cancelled/" in links["move_url"] and "/refund/" in links["refund_url"]
    subject, text, _ = render_email(email)
    assert subject.startswith("Class cancelled:") and "The instructor is ill." in text
    progress = service.cancellation_progress(cancellation)
    assert (progress.waiting, progress.settled) == (4, 5)
    cancellation.refresh_from_db()
    assert cancellation.notified_at is not None and cancellation.finished_at is None
    assert not Refund.objects.exists()
    # No "class updated" email went out.
    assert not OutboundEmail.objects.filter(kind="update").exists()


def _open(client, choice, kind):
    url = service.choice_url(choice, kind).split("testserver", 1)[-1]
    path = url[url.index("/r/") :]
    response = client.get(path, follow=True)
    assert response.redirect_chain[0][1] == 303
    return response


def test_the_refund_link_refunds_in_full_once(ten, standin, staff, client):
    offering, paid, *_ = ten
    service.class_cancel(offering, reason="Ice storm.", refund_everyone=False, staff_user=staff)
    choice = CancellationChoice.objects.get(registration=paid[1])
    page = _open(client, choice, "refund")
    assert b"Refund me in full" in page.content and b"Ice storm." in page.content
    path = page.request["PATH_INFO"]
    assert client.post(path).status_code == 200
    second = client.post(path)
    assert b"has been issued" in second.content
    choice.refresh_from_db()
    assert (choice.outcome, choice.choice) == (Outcome.REFUNDED, "refund")
    assert choice.settled_at is not None and choice.refunded_cents > 0
    assert len(standin_refunds(standin)) == 1
    paid[1].refresh_from_db()
    assert paid[1].state == S.REFUNDED


def test_the_move_link_moves_to_another_class_without_the_rules(ten, staff, client):
    offering, paid, *_ = ten
    course = offering.course
    course.transfer_fee_cents = 5000
    course.transfer_limit = 0
    course.save()
    other = make_offering(course, next_date(7, 8) + timedelta(days=14), evening=True)
    service.class_cancel(offering, reason="Too few.", refund_everyone=False, staff_user=staff)
    choice = CancellationChoice.objects.get(registration=paid[2])
    page = _open(client, choice, "move")
    assert other.date_label.encode() in page.content
    path = page.request["PATH_INFO"]
    done = client.post(path, {"target": other.pk})
    assert b"You have moved to the class of" in done.content
    again = client.post(path, {"target": other.pk})
    assert b"You have moved to the class of" in again.content
    choice.refresh_from_db()
    assert (choice.outcome, choice.choice) == (Outcome.TRANSFERRED, "transfer")
    moved = Registration.objects.get(pk=paid[2].pk)
    assert moved.offering_id == other.pk and moved.state == S.CONFIRMED
    record = Transfer.objects.get(registration=moved)
    assert record.rules_waived and record.fee_cents == 0
    assert not Refund.objects.exists()


def test_a_choice_page_needs_the_link_or_the_manage_grant(ten, staff, client):
    offering, paid, *_ = ten
    service.class_cancel(offering, reason="Too few.", refund_everyone=False, staff_user=staff)
    choice = CancellationChoice.objects.get(registration=paid[0])
    assert client.get(f"/r/class-cancelled/{choice.pk}/refund/").status_code == 403
    token = service.choice_url(choice, "refund").rstrip("/").rsplit("/", 2)[-2]
    assert client.get(f"/r/class-cancelled/{token[:-2]}xx/refund/").status_code == 400
    assert client.get(f"/r/class-cancelled/{token}/refund/").status_code == 303
    assert client.get(f"/r/class-cancelled/{choice.pk}/refund/").status_code == 200


def test_the_manage_page_shows_the_choice_while_pending(ten, staff, client):
    from registrations import links

    offering, paid, *_ = ten
    service.class_cancel(offering, reason="Too few.", refund_everyone=False, staff_user=staff)
    page = client.get(links.manage_path(paid[0]), follow=True)
    assert b"This class has been cancelled" in page.content
    choice = CancellationChoice.objects.get(registration=paid[0])
    assert client.get(f"/r/class-cancelled/{choice.pk}/refund/").status_code == 200


def test_who_has_not_chosen_by_the_deadline_is_refunded_in_full(ten, standin, staff):
    offering, paid, *_ = ten
    cancellation = service.class_cancel(
        offering, reason="Too few.", refund_everyone=False, staff_user=staff
    )
    assert service.cancellations_refund_unchosen() == 0
    with time_machine.travel(cancellation.choice_deadline + timedelta(minutes=1)):
        assert service.cancellations_refund_unchosen() == 4
        assert service.cancellations_refund_unchosen() == 0
    assert len(standin_refunds(standin)) == 4
    cancellation.refresh_from_db()
    assert cancellation.finished_at is not None
    note = RegistrationEvent.objects.filter(registration=paid[0]).order_by("pk")
    assert any("full refund" in e.reason for e in note)


def test_the_choice_deadline_follows_the_setting(course, staff, settings):
    settings.CLASS_CANCELLATION_CHOICE_DAYS = 3
    offering = open_offering(course)
    before = timezone.now()
    cancellation = service.class_cancel(
        offering, reason="x", refund_everyone=False, staff_user=staff
    )
    assert timedelta(days=3) <= cancellation.choice_deadline - before < timedelta(days=3, seconds=5)


def test_a_registrant_who_moved_from_the_manage_page_is_not_refunded(ten, standin, staff):
    offering, paid, *_ = ten
    other = make_offering(offering.course, next_date(7, 8) + timedelta(days=14), evening=True)
    cancellation = service.class_cancel(
        offering, reason="Too few.", refund_everyone=False, staff_user=staff
    )
    transfers.transfer(paid[3].pk, other.pk, actor=Actor.attendee())
    with time_machine.travel(cancellation.choice_deadline + timedelta(minutes=1)):
        assert service.cancellations_refund_unchosen() == 4
    assert len(standin_refunds(standin)) == 3
    choice = CancellationChoice.objects.get(registration=paid[3])
    assert choice.outcome == Outcome.TRANSFERRED and choice.refunded_cents == 0
    assert Registration.objects.get(pk=paid[3].pk).state == S.CONFIRMED


def test_the_beat_refunds_unchosen_hourly(settings):
    from citreg.celery_app import app

    schedule = {e["task"]: e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["registrations.refund_unchosen_cancellations"] == 3600.0
    assert "registrations.changes.class_cancellation" in settings.CELERY_IMPORTS
    assert {
        "registrations.refund_unchosen_cancellations",
        "registrations.process_class_cancellation",
    } <= set(app.tasks)


@pytest.fixture
def fake(settings):
    from registrations.payments.gateway import _load, gateway

    settings.PAYMENT_GATEWAY = "tests.registrations.payments.fake_gateway.FakeGateway"
    _load.cache_clear()
    yield gateway()
    _load.cache_clear()


def _paid(registration, cents, **fields):
    return Payment.objects.create(
        registration=registration, status=Payment.Status.PAID, amount_cents=cents,
        idempotency_key=f"test:{registration.pk}:{cents}", paid_at=timezone.now(),
        stripe_payment_intent_id=f"pi_{registration.pk}_{cents}", **fields,
    )  # fmt: skip


def test_a_full_refund_includes_the_transfer_fee(course, fake, staff):
    offering = open_offering(course)
    registration = registration_in(S.CONFIRMED, offering)
    _paid(registration, 25000)
    # The fee of an earlier move into this class.
    _paid(registration, 5000, purpose=Payment.Purpose.TRANSFER_FEE, transfer_to=offering)
    service.class_cancel(offering, reason="Too few.", refund_everyone=True, staff_user=staff)
    assert sorted(r["amount"] for r in fake.refunds) == [5000, 25000]
    choice = CancellationChoice.objects.get(registration=registration)
    assert (choice.outcome, choice.refunded_cents) == (Outcome.REFUNDED, 30000)
    assert choice.settled_at is not None
    assert Registration.objects.get(pk=registration.pk).state == S.REFUNDED


def test_a_refused_refund_is_left_for_staff(course, fake, staff):
    offering = open_offering(course)
    registration = registration_in(S.CONFIRMED, offering)
    _paid(registration, 25000)
    fake.fail_with = "card_declined"
    cancellation = service.class_cancel(
        offering, reason="Too few.", refund_everyone=True, staff_user=staff
    )
    choice = CancellationChoice.objects.get(registration=registration)
    assert choice.outcome == Outcome.FAILED and "card_declined" in choice.error
    progress = service.cancellation_progress(cancellation)
    assert (progress.failed, progress.settled) == (1, 0)
    cancellation.refresh_from_db()
    assert cancellation.finished_at is None
