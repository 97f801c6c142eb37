"""``registrations.privacy.retention``: on a world spanning eight years, the daily task leaves
exactly what the settings say, field by field and in every side table; a second run changes
nothing; other settings give other outcomes; the privacy notice shows the periods."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import ImproperlyConfigured

from citreg.celery_app import app
from registrations.messaging.models import OutboundEmail
from registrations.models import PolicyPage, Registration, RegistrationEvent
from registrations.payments.models import Payment, Refund, WebhookEvent
from registrations.privacy import retention, scrub
from registrations.privacy.retention import RetentionReport, apply_retention

from .conftest import NOW, database_state, database_text, snapshot, travel

pytestmark = pytest.mark.django_db

SENSITIVE = ("phone", "accessibility_needs", "supervisor_name", "supervisor_email")
HISTORY_FIELDS = (
    "first_name", "last_name", "email", "pending_email", "employer_name", "employer_city",
    "employer_state", "work_email", "supervisor_name", "supervisor_email", "time_zone", "role",
)  # fmt: skip


def run(**kwargs) -> RetentionReport:
    with travel(NOW):
        return apply_retention(**kwargs)


def anonymous(person) -> dict:
    """What an anonymised registration holds: neutral values, role and US state kept."""
    erased = f"erased-{person.pk}@erased.invalid"
    return {
        **person.original,
        "first_name": "Erased", "last_name": "Erased", "email": erased, "pending_email": "",
        "phone": "", "employer_name": "Erased", "employer_city": "Erased", "work_email": erased,
        "supervisor_name": "", "supervisor_email": "", "accessibility_needs": "",
        "time_zone": "", "sensitive_details_removed_at": NOW, "anonymised_at": NOW,
    }  # fmt: skip


def without_sensitive(person) -> dict:
    return {**person.original, **dict.fromkeys(SENSITIVE, ""), "sensitive_details_removed_at": NOW}


def history(person) -> list:
    return list(Registration.history.filter(id=person.pk).order_by("history_id"))


def assert_anonymised(person, text: str) -> None:
    assert snapshot(person.pk) == anonymous(person)
    rows = history(person)
    assert len(rows) >= 2
    expected = {name: anonymous(person)[name] for name in HISTORY_FIELDS}
    for row in rows:
        assert {name: getattr(row, name) for name in HISTORY_FIELDS} == expected
    assert rows[-1].history_change_reason == "Personal data anonymised"
    assert rows[-1].history_user is None
    for value in person.values:
        assert value.lower() not in text, (person.label, value)


def assert_sensitive_removed(person, text: str) -> None:
    assert snapshot(person.pk) == without_sensitive(person)
    rows = history(person)
    for row in rows:
        assert (row.supervisor_name, row.supervisor_email) == ("", "")
        assert row.first_name == person.original["first_name"]
    assert rows[-1].history_change_reason == (
        "Accessibility needs, phone and supervisor details removed"
    )
    for value in person.sensitive:
        assert value.lower() not in text, (person.label, value)
    # The training record stays: name, course email, agency, work email.
    for name in ("first_name", "email", "employer_name", "work_email"):
        assert person.original[name].lower() in text


def test_the_task_leaves_exactly_what_the_settings_say(world):
    payments = list(Payment.objects.order_by("pk").values())
    refunds = list(Refund.objects.order_by("pk").values())

    report = run()

    assert report == RetentionReport(
        training_records_anonymised=1,  # the class of 8 years ago
        unfinished_anonymised=2,  # cancelled 13 months ago; never confirmed, 14 months ago
        sensitive_details_removed=3,  # classes of 6 years, 13 months and 2 months ago
        email_bodies_removed=3,  # the attendee emails of 6 years and 13 months ago, 100 days
        webhook_payloads_removed=3,  # the events of 6 years and 13 months ago, 100 days
    )
    text = database_text()
    for label in ("alpha", "golf", "hotel"):
        assert_anonymised(world[label], text)
    for label in ("bravo", "charlie", "delta"):
        assert_sensitive_removed(world[label], text)
    for label in ("echo", "foxtrot", "india", "juliet"):  # class too recent, or still to come
        assert snapshot(world[label].pk) == world[label].original
        for value in world[label].values[:9]:  # the current values (not the old ones)
            assert value.lower() in text, (label, value)

    # Payments and refunds are the financial record: every row as it was.
    assert list(Payment.objects.order_by("pk").values()) == payments
    assert list(Refund.objects.order_by("pk").values("amount_cents", "stripe_refund_id")) == [
        {"amount_cents": r["amount_cents"], "stripe_refund_id": r["stripe_refund_id"]}
        for r in refunds
    ]
    assert [r.reason for r in Refund.objects.order_by("pk")] == [
        "Goodwill: [removed] asked by phone, [removed], from [removed].",
    ] * 2

    # The events say what happened, without the values.
    alpha, bravo = world["alpha"], world["bravo"]
    assert RegistrationEvent.objects.filter(registration=alpha.pk).last().reason == (
        "Personal data anonymised: the training record was kept 2557 days (about 7 years) "
        "after the class ended (TRAINING_RECORD_RETENTION)."
    )
    assert RegistrationEvent.objects.filter(
        registration=bravo.pk, reason__startswith="Confirmed by supervisor [removed] <[removed]>"
    ).exists()
    assert RegistrationEvent.objects.filter(
        registration=bravo.pk, reason="Edited phone: [removed]"
    ).exists()

    # Emails: the supervisor's are re-addressed and emptied at once, the attendee's bodies go
    # after 90 days; rows, subjects and statuses stay.
    delta = world["delta"].pk
    supervisor = OutboundEmail.objects.get(dedupe_key=f"supervisor:{delta}")
    assert (supervisor.to_email, supervisor.to_name, supervisor.text_body) == (
        f"erased-{delta}@erased.invalid",
        "",
        "",
    )
    assert supervisor.subject == "Message: [removed]"
    attendee = OutboundEmail.objects.get(dedupe_key=f"attendee:{delta}")
    assert attendee.text_body == "Hello Delta" and attendee.body_removed_at is None
    old, recent = (OutboundEmail.objects.get(pk=world.emails[k]) for k in ("100", "80"))
    assert (old.text_body, old.html_body, old.context, old.attachments) == ("", "", {}, [])
    assert old.body_removed_at == NOW
    assert (old.subject, old.to_email, old.status) == (
        "Message: Someone",
        "someone100@example.org",
        "sent",
    )
    assert recent.text_body == "Body 80" and recent.context and recent.body_removed_at is None

    # Stripe events: the rows stay (replays are recognised), payloads go after 90 days.
    old, recent = (WebhookEvent.objects.get(pk=world.events[k]) for k in ("100", "80"))
    assert (old.payload, old.payload_removed_at, old.stripe_event_id, old.outcome) == (
        {},
        NOW,
        "evt_100",
        "processed",
    )
    assert recent.payload["data"]["object"]["id"] == "cs_test_80"
    assert recent.payload_removed_at is None
    assert WebhookEvent.objects.count() == 8


def test_running_twice_changes_nothing_more(world):
    first = run(batch_size=1)
    assert first.training_records_anonymised == 1
    state = database_state()

    assert run() == RetentionReport()
    assert run(batch_size=2) == RetentionReport()
    assert database_state() == state


def test_other_settings_give_other_outcomes(world, settings):
    settings.TRAINING_RECORD_RETENTION = timedelta(days=5 * 365)
    settings.SENSITIVE_DETAILS_RETENTION = timedelta(days=90)
    settings.UNFINISHED_REGISTRATION_RETENTION = timedelta(days=300)
    settings.EMAIL_BODY_RETENTION = timedelta(days=120)
    settings.WEBHOOK_PAYLOAD_RETENTION = timedelta(days=120)

    report = run()

    text = database_text()
    for label in ("alpha", "bravo", "golf", "hotel", "india"):  # 6 years > 5; 11 months > 300 d
        assert_anonymised(world[label], text)
    assert_sensitive_removed(world["charlie"], text)
    for label in ("delta", "echo", "foxtrot", "juliet"):  # 2 months < 90 days
        assert snapshot(world[label].pk) == world[label].original
    assert OutboundEmail.objects.get(pk=world.emails["100"]).text_body == "Body 100"
    assert WebhookEvent.objects.get(pk=world.events["100"]).payload_removed_at is None
    assert report == RetentionReport(2, 3, 1, 1, 1)


@pytest.mark.parametrize("value", [timedelta(hours=5), timedelta(0), timedelta(days=2, hours=1)])
def test_a_period_that_is_not_whole_days_is_refused(settings, value):
    settings.SENSITIVE_DETAILS_RETENTION = value
    with pytest.raises(ImproperlyConfigured, match="SENSITIVE_DETAILS_RETENTION"):
        retention.periods()


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (1, "1 day"),
        (30, "30 days"),
        (90, "90 days (about 3 months)"),
        (365, "365 days (about 12 months)"),
        (2557, "2557 days (about 7 years)"),
    ],
)
def test_periods_in_words(days, words):
    assert retention.describe(timedelta(days=days)) == words


def test_the_privacy_notice_shows_the_configured_periods(client, settings):
    settings.SENSITIVE_DETAILS_RETENTION = timedelta(days=45)
    settings.EMAIL_BODY_RETENTION = timedelta(days=60)
    settings.WEBHOOK_PAYLOAD_RETENTION = timedelta(days=75)
    settings.UNFINISHED_REGISTRATION_RETENTION = timedelta(days=200)
    settings.TRAINING_RECORD_RETENTION = timedelta(days=2922)

    page = client.get("/policies/privacy/")

    text = page.content.decode()
    assert page.status_code == 200
    assert "How long we keep your data" in text
    assert "removed 45 days after your class ends" in text
    assert "removed 60 days (about 2 months) after sending" in text
    assert "removed 75 days (about 2 months) after we receive them" in text
    assert "anonymised 200 days (about 7 months) after its last change" in text
    assert "kept 2922 days (about 8 years) after your class ends" in text
    terms = client.get("/policies/terms/").content.decode()
    assert "How long we keep your data" not in terms
    assert PolicyPage.objects.filter(slug="privacy").exists()


def test_the_beat_runs_both_tasks_daily(settings):
    schedule = {
        entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert schedule["registrations.apply_retention"] == 86400.0
    assert schedule["registrations.clear_expired_sessions"] == 86400.0
    assert "registrations.privacy.retention" in settings.CELERY_IMPORTS
    assert {"registrations.apply_retention", "registrations.clear_expired_sessions"} <= set(
        app.tasks
    )


def test_the_daily_tasks_apply_retention_and_clear_sessions(world):
    expired, live = SessionStore(), SessionStore()
    for store, age in ((expired, timedelta(days=30)), (live, timedelta(0))):
        store["grant"] = "x"
        store.set_expiry(-age if age else 3600)
        store.save()

    retention.clear_expired_sessions_task.delay()
    with travel(NOW):
        result = retention.apply_retention_task.apply().get()

    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert result["training_records_anonymised"] == 1
    assert Registration.objects.get(pk=world["alpha"].pk).email == scrub.erased_address(
        world["alpha"].pk
    )


def test_staff_sign_in_records_are_deleted_after_their_period(db, settings):
    """django-axes keeps usernames, addresses and browsers of every sign-in: they go after
    ``SIGN_IN_LOG_RETENTION``, counted from the attempt."""
    settings.SIGN_IN_LOG_RETENTION = timedelta(days=90)
    made = {}
    for age in (100, 80):
        with travel(NOW - timedelta(days=age)):
            made[age] = [
                AccessLog.objects.create(username=f"staff{age}", ip_address="192.0.2.1"),
                AccessFailureLog.objects.create(username=f"staff{age}", ip_address="192.0.2.1"),
                AccessAttempt.objects.create(
                    username=f"staff{age}", ip_address="192.0.2.1", failures_since_start=1
                ),
            ]

    assert run().sign_in_records_deleted == 3
    for row in made[100]:
        assert not type(row).objects.filter(pk=row.pk).exists()
    for row in made[80]:
        assert type(row).objects.filter(pk=row.pk).exists()
    assert run().sign_in_records_deleted == 0
