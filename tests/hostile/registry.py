"""The registry of hostile text: every field people type (``FIELDS``), every form that takes it
(``INPUTS``) and every renderer that shows it (``RENDERERS``).

One example fills every registered field of every model a renderer reads (``World.fill``: the
rows are updated directly, as an older row or an import would hold them), renders, and checks
the output's structure (``tests.hostile.checks``). A new surface (an export, a PDF, an invoice,
an evaluation) joins by appending one ``Renderer``; a new typed field by appending one ``Field``;
a new kind of email by adding its sender to ``EMAIL_SENDERS`` (``test_registry`` fails until
every registered kind has one).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.db import models
from django.test import Client, RequestFactory
from django.utils import timezone
from hypothesis import strategies as st

from courses.calendar import offering_invitation
from courses.models import Course, Offering
from courses.text import one_line
from registrations import links
from registrations.attendance import completion
from registrations.certificates import pdf as certificate_pdf
from registrations.certificates import service as certificates
from registrations.changes import class_cancellation, enrolment, substitutions, transfers
from registrations.changes.models import CancellationChoice, ClassCancellation, Substitution
from registrations.forms import DetailsForm, RegistrationForm
from registrations.messaging import broadcasts, notices, outbox, reminders
from registrations.messaging.models import OutboundEmail
from registrations.models import Broadcast, PolicyPage, Registration, RegistrationEvent
from registrations.payments import checkout, stripe_gateway
from registrations.payments.models import Payment, Refund
from registrations.views.substitution import ColleagueForm
from tests.factories import make_offering
from tests.hostile import checks
from tests.hostile.strategies import broadcast_text, stored, typed, url_with
from tests.registrations.helpers import (
    change_form,
    form_data,
    open_link,
    path_of,
    register_url,
)

# --- the world a renderer shows ---------------------------------------------------------------


@dataclass
class World:
    """The rows every renderer reads (one class with its sessions, a confirmed attendee who paid,
    an eligible registrant about to pay, a refund, a staff note, a draft broadcast, the policy
    pages), an anonymous browser, a superuser's browser, and a recorder of Stripe calls."""

    course: Course
    offering: Offering
    attendee: Registration
    payer: Registration
    payment: Payment
    refund: Refund
    event: RegistrationEvent
    broadcast: Broadcast
    terms: PolicyPage
    privacy: PolicyPage
    client: Client
    admin: Client
    superuser: models.Model
    stripe_calls: list[tuple[str, dict]] = field(default_factory=list)

    def rows(self, model: type[models.Model]) -> list[models.Model]:
        """The rows of ``model`` an example fills."""
        return {
            Course: [self.course],
            Offering: [self.offering],
            Registration: [self.attendee, self.payer],
            Payment: [self.payment],
            Refund: [self.refund],
            RegistrationEvent: [self.event],
            Broadcast: [self.broadcast],
            PolicyPage: [self.terms, self.privacy],
        }[model]

    def fill(self, values: dict[type[models.Model], dict[str, str]]) -> None:
        """Write ``values`` into the rows directly (``update``: no form, no ``save``), as an
        older row or an import may hold them, then read every row again."""
        for model, fields in values.items():
            if fields:
                model.objects.filter(pk__in=[row.pk for row in self.rows(model)]).update(**fields)
        self.refresh()

    def refresh(self) -> None:
        self.course = Course.objects.get(pk=self.course.pk)
        self.offering = Offering.objects.select_related("course").get(pk=self.offering.pk)
        registrations = Registration.objects.select_related("offering__course")
        self.attendee = registrations.get(pk=self.attendee.pk)
        self.payer = registrations.get(pk=self.payer.pk)
        self.payment = Payment.objects.get(pk=self.payment.pk)
        self.refund = Refund.objects.get(pk=self.refund.pk)
        self.event = RegistrationEvent.objects.get(pk=self.event.pk)
        self.broadcast = Broadcast.objects.get(pk=self.broadcast.pk)
        self.terms = PolicyPage.objects.get(pk=self.terms.pk)
        self.privacy = PolicyPage.objects.get(pk=self.privacy.pk)


# --- fields -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A field staff or attendees type: its model, name, whether it is one line, its maximum
    length (the column's, or the form's for text columns), the forms that take it (``INPUTS``)
    and, when plain hostile text does not fit it, its own strategy."""

    model: type[models.Model]
    name: str
    single_line: bool
    max_length: int
    inputs: tuple[str, ...] = ()
    choices: bool = False
    strategy: Callable[[int], st.SearchStrategy[str]] = stored

    @property
    def label(self) -> str:
        return f"{self.model.__name__}.{self.name}"

    def values(self) -> st.SearchStrategy[str]:
        """Hostile values a row may hold."""
        return self.strategy(self.max_length)

    def typed_values(self) -> st.SearchStrategy[str]:
        """Hostile values a form may receive: a row's, and any with a NUL or a control."""
        return st.one_of(
            self.values(),
            st.tuples(self.values(), typed(8), st.integers(0, self.max_length)).map(
                lambda t: (t[0][: t[2]] + t[1] + t[0][t[2] :])[: self.max_length]
            ),
        )


REGISTER, DETAILS = "registration form", "manage page details form"
COURSE_ADMIN, OFFERING_ADMIN = "admin: course", "admin: offering"
REGISTRATION_ADMIN, BROADCAST_ADMIN = "admin: registration", "admin: email to attendees"
POLICY_ADMIN = "admin: policy page"
COLLEAGUE = "colleague's form (substitution)"
# The person fields the attendee edits, staff edit and a colleague taking the place confirms.
SELF_SERVICE = (REGISTER, DETAILS, REGISTRATION_ADMIN, COLLEAGUE)

FIELDS: list[Field] = [
    Field(Course, "title", True, 200, (COURSE_ADMIN,)),
    Field(Course, "summary", False, 2000, (COURSE_ADMIN,)),
    Field(Course, "description", False, 5000, (COURSE_ADMIN,)),
    Field(Course, "topics", False, 2000, (COURSE_ADMIN,)),
    Field(Course, "learning_outcomes", False, 2000, (COURSE_ADMIN,)),
    Field(Course, "eligibility_statement", False, 2000, (COURSE_ADMIN,)),
    Field(Course, "participation_requirements", False, 2000, (COURSE_ADMIN,)),
    Field(Offering, "meeting_url", True, 200, (OFFERING_ADMIN,), strategy=url_with),
    Field(Offering, "notes", False, 2000, (OFFERING_ADMIN,)),
    Field(Registration, "first_name", True, 150, SELF_SERVICE),
    Field(Registration, "last_name", True, 150, SELF_SERVICE),
    Field(Registration, "phone", True, 40, SELF_SERVICE),
    Field(Registration, "role", True, 20, (REGISTER, REGISTRATION_ADMIN), choices=True),
    Field(Registration, "employer_name", True, 200, (REGISTER, COLLEAGUE)),
    Field(Registration, "employer_city", True, 120, (REGISTER, COLLEAGUE)),
    Field(Registration, "supervisor_name", True, 200, (REGISTER, COLLEAGUE)),
    Field(Registration, "accessibility_needs", False, 2000, (REGISTER, COLLEAGUE)),
    Field(RegistrationEvent, "reason", False, 2000),  # a rejection's or cancellation's reason
    Field(Refund, "reason", False, 2000),
    Field(Broadcast, "subject", True, 200, (BROADCAST_ADMIN,), strategy=broadcast_text),
    Field(Broadcast, "body", False, 5000, (BROADCAST_ADMIN,), strategy=broadcast_text),
    Field(PolicyPage, "title", True, 200, (POLICY_ADMIN,)),
    Field(PolicyPage, "body", False, 5000, (POLICY_ADMIN,)),
]


def field_values(model: type[models.Model]) -> st.SearchStrategy[dict[str, str]]:
    """One value for every registered field of ``model``: one example fills the whole row."""
    return st.fixed_dictionaries({f.name: f.values() for f in FIELDS if f.model is model})


def world_values(
    models_read: tuple[type[models.Model], ...],
) -> st.SearchStrategy[dict[type[models.Model], dict[str, str]]]:
    """Values for every row of every model a renderer reads."""
    return st.fixed_dictionaries({model: field_values(model) for model in models_read})


# --- inputs: the forms that take typed text ------------------------------------------------


def _admin_form(world: World, model: type[models.Model], obj: models.Model, data: dict):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = world.superuser
    form_class = model_admin.get_form(request, obj, change=True)
    return form_class(data, instance=obj)


def _register(world: World, name: str, value: str):
    return RegistrationForm(form_data(**{name: value}))


def _details(world: World, name: str, value: str):
    data = {"first_name": "Ana", "last_name": "Test", "phone": "", name: value}
    return DetailsForm(data)


def _colleague(world: World, name: str, value: str):
    data = form_data(**{name: value})
    return ColleagueForm(data, work_email=data["work_email"])


INPUTS: dict[str, Callable[[World, str, str], object]] = {
    REGISTER: _register,
    COLLEAGUE: _colleague,
    DETAILS: _details,
    COURSE_ADMIN: lambda w, name, value: _admin_form(w, Course, w.course, {name: value}),
    OFFERING_ADMIN: lambda w, name, value: _admin_form(w, Offering, w.offering, {name: value}),
    REGISTRATION_ADMIN: lambda w, name, value: _admin_form(
        w, Registration, w.attendee, {name: value}
    ),
    BROADCAST_ADMIN: lambda w, name, value: _admin_form(w, Broadcast, w.broadcast, {name: value}),
    POLICY_ADMIN: lambda w, name, value: _admin_form(w, PolicyPage, w.terms, {name: value}),
}


# --- renderers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renderer:
    """A surface that shows typed text: ``render(world)`` produces the output from the filled
    rows, ``check(world, output)`` fails when its structure broke. ``models`` are the models
    whose registered fields an example fills."""

    name: str
    models: tuple[type[models.Model], ...]
    render: Callable[[World], object]
    check: Callable[[World, object], None]


def _get(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def _page(url: Callable[[World], str], shown: Callable[[World], list[str]], *, public: bool):
    """A page renderer: GET ``url`` (anonymous for public pages, else as the superuser)."""

    def render(world: World) -> str:
        return _get(world.client if public else world.admin, url(world))

    def check(world: World, html: object) -> None:
        checks.check_html(str(html), public=public, shown=shown(world))

    return render, check


def _public(name: str, models_read, url, shown=lambda w: []) -> Renderer:
    return Renderer(name, models_read, *_page(url, shown, public=True))


def _admin(name: str, models_read, url, shown=lambda w: []) -> Renderer:
    return Renderer(name, models_read, *_page(url, shown, public=False))


def _register_with_errors(world: World) -> str:
    """The registration form posted with the typed values but without accepting the terms: it
    is always shown again, with the values and the errors."""
    data = form_data(**{f.name: getattr(world.attendee, f.name) for f in _typed(Registration)})
    del data["accept_terms"]
    response = world.client.post(register_url(world.offering), data)
    assert response.status_code == 400, response.status_code
    return response.content.decode()


def _typed(model: type[models.Model]) -> list[Field]:
    return [f for f in FIELDS if f.model is model and REGISTER in f.inputs]


def _link_page(make_url: Callable[[Registration], str], state: str = "") -> Callable[[World], str]:
    """The page an emailed link opens (through the session grant), for the attendee (in
    ``state``, when given: the row is set to it, as the page needs it)."""

    def render(world: World) -> str:
        if state:
            Registration.objects.filter(pk=world.attendee.pk).update(state=state)
            world.refresh()
        response = open_link(world.client, path_of(make_url(world.attendee)))
        assert response.status_code == 200
        return response.content.decode()

    return render


def _manage_transfer(world: World) -> str:
    """The manage page's "Change to another class" with its confirmation step open: another
    class of the course (holding the class's typed notes and link) is offered."""
    other = make_offering(world.course, world.offering.starts_on + timedelta(days=7))
    Offering.objects.filter(pk=other.pk).update(
        notes=world.offering.notes, meeting_url=world.offering.meeting_url
    )
    open_link(world.client, path_of(links.manage_url(world.attendee)))
    response = world.client.get(f"{links.manage_page_path(world.attendee)}?transfer_to={other.pk}")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Move to this class" in page
    return page


def _substitution(world: World, status: str = Substitution.Status.WITHDRAWN) -> Substitution:
    """A substitution on the attendee's place, its colleague named with the attendee's typed
    values (an open one replaces any other open one)."""
    a = world.attendee
    Substitution.objects.filter(registration=a, status__in=Substitution.OPEN_STATUSES).delete()
    return Substitution.objects.create(
        registration=a, status=status, actor="attendee", original_first_name=a.first_name,
        original_last_name=a.last_name, original_email=a.email, original_work_email=a.work_email,
        first_name=a.first_name, last_name=a.last_name, work_email=a.work_email, email=a.email,
    )  # fmt: skip


def _manage_substitution(world: World) -> str:
    """The manage page's "Send a colleague in your place" with an open request (the
    colleague's names are the attendee's typed ones)."""
    _substitution(world, Substitution.Status.PENDING_EMAIL)
    open_link(world.client, path_of(links.manage_url(world.attendee)))
    page = _get(world.client, links.manage_page_path(world.attendee))
    assert 'name="substitute_withdraw"' in page
    return page


def _cancelled_class(world: World) -> CancellationChoice:
    """The class cancelled (its reason the typed staff note) and the attendee's choice open."""
    cancellation, _ = ClassCancellation.objects.update_or_create(
        offering=world.offering,
        defaults={
            "reason": world.event.reason,
            "choice_deadline": timezone.now() + timedelta(days=7),
        },
    )
    choice, _ = CancellationChoice.objects.update_or_create(
        cancellation=cancellation,
        registration=world.attendee,
        defaults={"state_before": "confirmed", "choice": "pending", "outcome": "open"},
    )
    return choice


def _cancelled_class_page(world: World) -> str:
    """The page behind a cancelled class's refund link: the class and the reason."""
    choice = _cancelled_class(world)
    response = open_link(world.client, path_of(class_cancellation.choice_url(choice, "refund")))
    assert response.status_code == 200
    return response.content.decode()


def _cancellation_progress(world: World) -> str:
    """The admin's progress page of a cancelled class, with the attendee's row."""
    _cancelled_class(world)
    return f"/admin/courses/offering/{world.offering.pk}/cancellation/"


def _colleague_page(world: World) -> str:
    """The colleague's page behind their link: the registration form prefilled."""
    substitution = _substitution(world, Substitution.Status.PENDING_EMAIL)
    response = open_link(world.client, path_of(substitutions.substitution_url(substitution)))
    assert response.status_code == 200
    return response.content.decode()


def _ticket_page(world: World) -> str:
    """ "You're confirmed" (the page Stripe returns to) for the confirmed attendee: the ticket
    with the meeting link, the calendar links and the refund steps."""
    open_link(world.client, path_of(links.manage_url(world.attendee)))
    return _get(world.client, f"/r/manage/{world.attendee.pk}/payment/")


def _attendee_ics(world: World) -> bytes:
    """The confirmed attendee's own calendar file (with the meeting link)."""
    open_link(world.client, path_of(links.manage_url(world.attendee)))
    response = world.client.get(f"/r/manage/{world.attendee.pk}/calendar.ics")
    assert response.status_code == 200, response.status_code
    return response.content


def _registered_page(world: World) -> str:
    """The page after the form ("check your email", what happens next) for a valid submit."""
    response = world.client.post(register_url(world.offering), form_data())
    assert response.status_code == 302, response.status_code
    return _get(world.client, "/registered/")


def _certificate(world: World) -> certificates.Certificate:
    """The attendee, completed, with their certificate (issued now, its email queued)."""
    Registration.objects.filter(pk=world.attendee.pk).update(state=Registration.State.COMPLETED)
    world.refresh()
    return certificates.issue_certificate(world.attendee.pk)


def _certificate_download(world: World) -> bytes:
    """The attendee's certificate, downloaded from the manage page."""
    _certificate(world)
    open_link(world.client, path_of(links.manage_url(world.attendee)))
    response = world.client.get(f"/r/manage/{world.attendee.pk}/certificate.pdf")
    assert response.status_code == 200, response.status_code
    return response.content


def _certificate_shown(world: World) -> list[str]:
    """What every certificate PDF shows as printed: the name (bold) and the course."""
    return [
        certificate_pdf.printed(world.attendee.full_name, bold=True),
        certificate_pdf.printed(world.course.title, bold=True)[:40],
    ]


def _certificate_check(world: World, data: object) -> None:
    assert isinstance(data, bytes)
    checks.check_pdf(data, shown=_certificate_shown(world))


def _certificate_page(world: World) -> str:
    """The public verification page of the attendee's certificate."""
    return _get(world.client, f"/certificates/{_certificate(world).number}/")


def _attendee_shown(world: World) -> list[str]:
    return [world.attendee.full_name, world.course.title]


# Emails: one sender per registered kind, queuing through the sender's own function.
def _queue_test(world: World) -> None:
    outbox.email_queue(
        kind=outbox.TEST,
        to_email=world.attendee.email,
        to_name=world.attendee.full_name,
        template="emails/test",
        context={"note": world.course.title, "queued_at": "now"},
        dedupe_key=f"test:{uuid.uuid4().hex}",
    )


def _queue_reminder(world: World) -> None:
    first = world.offering.session_list[0]
    reminders.reminders_for_registration(world.attendee, first.starts_at - timedelta(minutes=30))


def _queue_broadcast(world: World) -> None:
    broadcasts.broadcast_send(world.broadcast, user=None)


def _refund_issued(world: World) -> None:
    notices.send_refund_issued(
        world.attendee, payment_id=world.payment.pk, paid_cents=25000, total_cents=12500
    )


EMAIL_SENDERS: dict[str, Callable[[World], None]] = {
    outbox.TEST: _queue_test,
    notices.Kind.CONFIRM_WORK_EMAIL: lambda w: notices.send_work_email_confirmation(w.attendee),
    notices.Kind.CONFIRM_NEW_EMAIL: lambda w: notices.send_new_email_confirmation(w.attendee),
    notices.Kind.SUPERVISOR_CONFIRMATION: lambda w: notices.send_supervisor_request(w.attendee),
    notices.Kind.UNDER_REVIEW: lambda w: notices.send_under_review(w.attendee),
    notices.Kind.ELIGIBLE: lambda w: notices.send_eligible(w.attendee),
    notices.Kind.REJECTED: lambda w: notices.send_rejected(w.attendee, w.event.reason),
    notices.Kind.MANAGE_LINK: lambda w: notices.send_manage_link(w.attendee),
    notices.Kind.CANCELLED: lambda w: notices.send_cancelled(w.attendee),
    notices.Kind.WAITLIST_JOINED: lambda w: notices.send_waitlist_joined(w.attendee, 3),
    notices.Kind.WAITLIST_OFFER: lambda w: notices.send_waitlist_offer(w.attendee),
    notices.Kind.WAITLIST_LEFT: lambda w: notices.send_waitlist_left(w.attendee, lapsed=True),
    notices.Kind.HOLD_LAPSED: lambda w: notices.send_hold_lapsed(w.attendee),
    notices.Kind.PAYMENT_FAILED: lambda w: notices.send_payment_failed(w.attendee),
    notices.Kind.REFUND_ISSUED: _refund_issued,
    notices.Kind.STAFF_ALERT: lambda w: notices.send_staff_alert(w.attendee, w.event.reason),
    notices.Kind.PAYMENT_ALERT: lambda w: notices.send_payment_alert(
        "evt_hostile", "checkout.session.completed", w.event.reason
    ),
    notices.Kind.CONFIRMATION: lambda w: notices.send_confirmation(w.attendee),
    notices.Kind.UPDATE: lambda w: notices.send_update(
        w.attendee,
        times_changed=True,
        link_changed=True,
        previous_times=[
            (s.starts_at - timedelta(days=1), s.ends_at - timedelta(days=1))
            for s in w.offering.session_list
        ],
    ),
    notices.Kind.PLACE_ENDED: lambda w: notices.send_place_ended(w.attendee, reason=w.event.reason),
    reminders.REMINDER: _queue_reminder,
    broadcasts.BROADCAST: _queue_broadcast,
    completion.ATTENDANCE_SHORT: lambda w: completion.send_attendance_short(
        w.attendee, w.offering.session_list[0]
    ),
    certificates.CERTIFICATE: _certificate,
    transfers.TRANSFERRED: lambda w: transfers.send_transferred(
        w.attendee, previous=w.offering, key=f"transferred:{uuid.uuid4().hex}"
    ),
    substitutions.INVITE: lambda w: substitutions.send_invite(
        _substitution(w, Substitution.Status.PENDING_EMAIL)
    ),
    substitutions.CONFIRMED: lambda w: substitutions.send_completed(
        _substitution(w), w.attendee, w.attendee
    ),
    substitutions.SUBSTITUTED: lambda w: substitutions.send_completed(
        _substitution(w), w.attendee, w.attendee
    ),
    substitutions.ENDED: lambda w: substitutions.send_ended(_substitution(w), w.event.reason),
    enrolment.GO_NO_GO: lambda w: enrolment.send_go_no_go(w.offering, 1),
    class_cancellation.CLASS_CANCELLED: lambda w: class_cancellation.send_class_cancelled(
        w.attendee, _cancelled_class(w).cancellation, "choose"
    ),
}
EMAIL_MODELS = (Course, Offering, Registration, RegistrationEvent, Broadcast)


def _sent(world: World, kind: str) -> SimpleNamespace:
    """Queue one message of ``kind`` with its sender and send it through the outbox (the
    in-memory backend); returns the row and the message as it left."""
    mail.outbox.clear()
    EMAIL_SENDERS[kind](world)
    row = OutboundEmail.objects.filter(kind=kind).latest("pk")
    result = outbox.email_send(row.pk)
    row.refresh_from_db()
    assert result.outcome == "sent", (result, row.last_error)
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    return SimpleNamespace(row=row, message=sent.message(), subject=sent.subject)


def _email_renderer(kind: str) -> Renderer:
    def check(world: World, output: object) -> None:
        sent = output
        assert isinstance(sent, SimpleNamespace)
        parsed = checks.check_email(
            sent.message, to_email=sent.row.to_email, to_name=sent.row.to_name, subject=sent.subject
        )
        for ics in checks.calendar_parts(parsed):
            confirmed = world.attendee.state == Registration.State.CONFIRMED
            checks.check_calendar(
                ics,
                title=world.course.title,
                requirements=world.course.participation_requirements,
                sessions=len(world.offering.session_list),
                attendee_name=world.attendee.full_name,
                meeting_url=world.offering.join_url  # only a web link is ever sent
                if confirmed and b"METHOD:REQUEST" in ics
                else "",
            )
        for data in checks.pdf_parts(parsed):
            checks.check_pdf(data, shown=_certificate_shown(world))

    return Renderer(f"email: {kind}", EMAIL_MODELS, lambda w: _sent(w, kind), check)


def _calendar_check(attendee: bool, meeting: bool, web_link_only: bool = False):
    """``web_link_only``: the file was made by the app from ``Offering.join_url``, not handed the
    stored link."""

    def check(world: World, data: object) -> None:
        link = world.offering.join_url if web_link_only else world.offering.meeting_url
        assert isinstance(data, bytes)
        checks.check_calendar(
            data,
            title=world.course.title,
            requirements=world.course.participation_requirements,
            sessions=len(world.offering.session_list),
            attendee_name=world.attendee.full_name if attendee else None,
            meeting_url=link if meeting else None,
        )

    return check


def _invitation(method: str) -> Callable[[World], bytes]:
    def render(world: World) -> bytes:
        return offering_invitation(
            world.offering,
            method=method,
            attendee_email=world.attendee.email,
            attendee_name=world.attendee.full_name,
            meeting_url=world.offering.meeting_url if method == "REQUEST" else "",
        )

    return render


def _download(world: World) -> bytes:
    response = world.client.get(f"{world.offering.get_absolute_url()}calendar.ics")
    assert response.status_code == 200
    return response.content


def _export(url: str, action: str, pks: Callable[[World], list[int]]):
    def render(world: World) -> bytes:
        response = world.admin.post(url, {"action": action, ACTION_CHECKBOX_NAME: pks(world)})
        assert response.status_code == 200, response.status_code
        return b"".join(response.streaming_content)

    return render


def _roster_check(world: World, data: object) -> None:
    assert isinstance(data, bytes)
    people = sorted([world.attendee, world.payer], key=lambda r: (r.last_name, r.first_name, r.pk))
    checks.check_csv(
        data,
        rows=2,
        columns={
            "first name": [r.first_name for r in people],
            "last name": [r.last_name for r in people],
            "phone": [r.phone for r in people],
            "role": [r.get_role_display() for r in people],
            "agency": [r.employer_name for r in people],
            "city": [r.employer_city for r in people],
            "class": [str(world.offering)] * 2,
        },
    )


def _payments_check(world: World, data: object) -> None:
    assert isinstance(data, bytes)
    checks.check_csv(
        data,
        rows=1,
        columns={
            "attendee": [world.attendee.full_name],
            "agency": [world.attendee.employer_name],
            "offering": [str(world.offering)],
        },
    )


def _roster_export(file_format: str) -> Callable[[World], bytes]:
    """A class's roster exported from its roster page (``registrations.admin.roster``)."""

    def render(world: World) -> bytes:
        url = f"/admin/courses/offering/{world.offering.pk}/roster/export/{file_format}/"
        response = world.admin.get(url)
        assert response.status_code == 200, response.status_code
        if response.streaming:
            return b"".join(response.streaming_content)
        return response.content

    return render


def _roster_xlsx_check(world: World, data: object) -> None:
    assert isinstance(data, bytes)
    people = [world.attendee, world.payer]

    def each(value: Callable[[Registration], object]) -> dict[int, object]:
        return {person.pk: value(person) for person in people}

    checks.check_xlsx(
        data,
        rows=2,
        key="registration",
        columns={
            "first name": each(lambda r: r.first_name),
            "last name": each(lambda r: r.last_name),
            "phone": each(lambda r: r.phone),
            "role": each(lambda r: r.get_role_display()),
            "agency": each(lambda r: r.employer_name),
            "city": each(lambda r: r.employer_city),
            "class": each(lambda r: str(world.offering)),
        },
    )


def _review_page(world: World) -> str:
    """The review page of the attendee, put in the review queue."""
    Registration.objects.filter(pk=world.attendee.pk).update(
        state=Registration.State.PENDING_REVIEW
    )
    world.refresh()
    return _get(
        world.admin, f"/admin/registrations/registrationunderreview/{world.attendee.pk}/change/"
    )


def _refund_form(world: World) -> str:
    """The "Refund (keep the seat)" form for the attendee (paid): the quote lines."""
    response = world.admin.post(
        "/admin/registrations/registration/",
        {"action": "refund_only", ACTION_CHECKBOX_NAME: [world.attendee.pk]},
    )
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _meeting_link_page(world: World) -> str:
    """The "Set the meeting link…" page for the class, re-shown with a refused link typed."""
    response = world.admin.post(
        "/admin/courses/offering/",
        {"action": "set_the_meeting_link", ACTION_CHECKBOX_NAME: [world.offering.pk],
         "meeting_url": "javascript:alert(1)"},
    )  # fmt: skip
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _change_preview(world: World) -> str:
    """The preview of moving the class by an hour (the attendee is confirmed): the update
    email as the attendee would get it."""
    data = change_form(
        world.offering, shift=timedelta(hours=1), meeting_url="https://meet.example.org/x"
    )
    data.update({"course": world.course.pk, "notes": "", "_save": "Save"})
    response = world.admin.post(f"/admin/courses/offering/{world.offering.pk}/change/", data)
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert "Nothing has been saved or sent yet." in html, html
    return html


def _sign_in_sheet(world: World) -> str:
    session = world.offering.session_list[0]
    return _get(world.admin, f"/admin/courses/session/{session.pk}/sign-in-sheet/")


class StripeRecorder:
    """Stands in for ``stripe.StripeClient``: records the parameters of each call citreg makes
    and answers like Stripe."""

    def __init__(self, calls: list[tuple[str, dict]]) -> None:
        def create_session(params: dict, options: dict) -> SimpleNamespace:
            calls.append(("checkout.sessions.create", params))
            return SimpleNamespace(
                id=f"cs_test_{uuid.uuid4().hex}",
                url="https://checkout.stripe.test/pay",
                expires_at=params["expires_at"],
                status="open",
            )

        def create_refund(params: dict, options: dict) -> SimpleNamespace:
            calls.append(("refunds.create", params))
            return SimpleNamespace(id=f"re_test_{uuid.uuid4().hex}")

        self.v1 = SimpleNamespace(
            checkout=SimpleNamespace(sessions=SimpleNamespace(create=create_session)),
            refunds=SimpleNamespace(create=create_refund),
        )


def _checkout_params(world: World) -> list[tuple[str, dict]]:
    world.stripe_calls.clear()
    checkout.checkout_start(world.payer)
    return list(world.stripe_calls)


def _refund_params(world: World) -> list[tuple[str, dict]]:
    world.stripe_calls.clear()
    stripe_gateway.StripeGateway().refund_create(
        payment_intent_id="pi_test_hostile",
        amount_cents=100,
        idempotency_key=f"refund:{uuid.uuid4().hex}",
        reason=world.refund.reason,
    )
    return list(world.stripe_calls)


def _stripe_check(world: World, calls: object) -> None:
    assert isinstance(calls, list) and len(calls) == 1, calls
    name, params = calls[0]
    checks.check_stripe_params(params)
    if name == "checkout.sessions.create":
        product = params["line_items"][0]["price_data"]["product_data"]["name"]
        title = one_line(world.course.title)
        assert product.startswith(title) or product.endswith("\u2026"), product
    else:
        reason = one_line(world.refund.reason)
        assert params["metadata"]["reason"] == reason or len(reason) > checks.STRIPE_VALUE_MAX


def _outbox_page(row_page: bool) -> Callable[[World], str]:
    """The email log (its list, or one row's page) after a confirmation went out."""

    def render(world: World) -> str:
        sent = _sent(world, notices.Kind.CONFIRMATION)
        row = f"{sent.row.pk}/change/" if row_page else ""
        return _get(world.admin, f"/admin/registrations/outboundemail/{row}")

    return render


def _history_page(kind: str) -> Callable[[World], str]:
    """An object's audit history after a save recorded the typed values over the plain ones
    (so the page shows both versions and the changes between them)."""

    def render(world: World) -> str:
        row = {"course": world.course, "registration": world.attendee}[kind]
        row.save()  # django-simple-history records the version
        app = "courses" if kind == "course" else "registrations"
        return _get(world.admin, f"/admin/{app}/{kind}/{row.pk}/history/")

    return render


COURSE_PAGE_MODELS = (Course, Offering)

RENDERERS: list[Renderer] = [
    # Public pages.
    _public("catalogue", (Course,), lambda w: "/", lambda w: [w.course.title]),
    _public("course page", COURSE_PAGE_MODELS, lambda w: w.course.get_absolute_url(),
            lambda w: [w.course.title]),
    _public("offering page", COURSE_PAGE_MODELS, lambda w: w.offering.get_absolute_url(),
            lambda w: [w.course.title]),
    Renderer("register form with errors", (Course, Registration), _register_with_errors,
             lambda w, html: checks.check_html(str(html), public=True, shown=[
                 w.course.title,
                 *(getattr(w.attendee, f.name) for f in _typed(Registration) if not f.choices),
             ])),
    Renderer("manage page", (Course, Offering, Registration), _link_page(links.manage_url),
             lambda w, html: checks.check_html(str(html), public=True, shown=_attendee_shown(w))),
    Renderer("manage page: change to another class", (Course, Offering, Registration),
             _manage_transfer,
             lambda w, html: checks.check_html(str(html), public=True, shown=_attendee_shown(w))),
    Renderer("manage page: send a colleague", (Course, Offering, Registration),
             _manage_substitution,
             lambda w, html: checks.check_html(str(html), public=True, shown=_attendee_shown(w))),
    Renderer("cancelled class: refund page", (Course, Offering, Registration, RegistrationEvent),
             _cancelled_class_page,
             lambda w, html: checks.check_html(str(html), public=True, shown=[w.course.title])),
    Renderer("colleague's page (substitution)", (Course, Offering, Registration),
             _colleague_page,
             lambda w, html: checks.check_html(str(html), public=True, shown=_attendee_shown(w))),
    Renderer("confirmed page (ticket)", (Course, Offering, Registration), _ticket_page,
             lambda w, html: checks.check_html(str(html), public=True, shown=[w.course.title])),
    Renderer("attendee calendar (.ics)", COURSE_PAGE_MODELS + (Registration,), _attendee_ics,
             _calendar_check(False, True, web_link_only=True)),
    Renderer("page after registering", (Course,), _registered_page,
             lambda w, html: checks.check_html(str(html), public=True, shown=[w.course.title])),
    Renderer("certificate verification page", (Course, Registration), _certificate_page,
             lambda w, html: checks.check_html(str(html), public=True, shown=[
                 w.attendee.full_name, w.course.title])),
    Renderer("certificate PDF (manage page)", (Course, Registration), _certificate_download,
             _certificate_check),
    Renderer("work email confirmation page", (Course, Registration),
             _link_page(links.work_email_url),
             lambda w, html: checks.check_html(str(html), public=True, shown=[w.course.title])),
    Renderer("supervisor confirmation page", (Course, Registration),
             _link_page(links.supervisor_url, Registration.State.PENDING_REVIEW),
             lambda w, html: checks.check_html(
                 str(html), public=True, shown=[w.attendee.full_name, w.attendee.employer_name])),
    _public("terms page", (Course, PolicyPage), lambda w: "/policies/terms/",
            lambda w: [w.terms.title]),
    _public("privacy page", (PolicyPage,), lambda w: "/policies/privacy/",
            lambda w: [w.privacy.title]),
    # Calendar files.
    Renderer("calendar download", COURSE_PAGE_MODELS, _download, _calendar_check(False, False)),
    Renderer("invitation (REQUEST)", (Course, Offering, Registration), _invitation("REQUEST"),
             _calendar_check(True, True)),
    Renderer("invitation (CANCEL)", (Course, Offering, Registration), _invitation("CANCEL"),
             _calendar_check(True, False)),
    # Every email kind.
    *(_email_renderer(kind) for kind in EMAIL_SENDERS),
    # Exports.
    Renderer("roster CSV", (Course, Registration),
             _export("/admin/registrations/registration/", "export_roster",
                     lambda w: [w.attendee.pk, w.payer.pk]), _roster_check),
    Renderer("roster XLSX (roster page)", (Course, Registration), _roster_export("xlsx"),
             _roster_xlsx_check),
    Renderer("roster CSV (roster page)", (Course, Registration), _roster_export("csv"),
             _roster_check),
    Renderer("payments CSV", (Course, Registration),
             _export("/admin/registrations/payment/", "export_csv", lambda w: [w.payment.pk]),
             _payments_check),
    # Stripe.
    Renderer("Stripe Checkout parameters", (Course, Offering, Registration), _checkout_params,
             _stripe_check),
    Renderer("Stripe refund parameters", (Refund,), _refund_params, _stripe_check),
    # Admin pages (superuser).
    _admin("admin: courses", (Course,), lambda w: "/admin/courses/course/",
           lambda w: [w.course.title]),
    _admin("admin: course", (Course,), lambda w: f"/admin/courses/course/{w.course.pk}/change/",
           lambda w: [w.course.title]),
    _admin("admin: offerings", (Course, Offering), lambda w: "/admin/courses/offering/"),
    _admin("admin: class cancellation progress", (Course, Offering, Registration,
            RegistrationEvent), _cancellation_progress),
    _admin("admin: attendance sheet", (Course, Offering, Registration),
           lambda w: f"/admin/courses/session/{w.offering.session_list[0].pk}/attendance/",
           lambda w: [w.attendee.full_name]),
    _admin("admin: offering", (Course, Offering),
           lambda w: f"/admin/courses/offering/{w.offering.pk}/change/",
           lambda w: [w.offering.meeting_url]),
    _admin("admin: registrations", (Course, Registration),
           lambda w: "/admin/registrations/registration/",
           lambda w: [w.attendee.full_name, w.attendee.employer_name]),
    _admin("admin: registration", (Course, Registration, RegistrationEvent),
           lambda w: f"/admin/registrations/registration/{w.attendee.pk}/change/",
           lambda w: [w.attendee.first_name, w.attendee.last_name]),
    _admin("admin: payments", (Course, Registration), lambda w: "/admin/registrations/payment/"),
    Renderer("admin: eligibility review page", (Course, Registration, RegistrationEvent),
             _review_page, lambda w, html: checks.check_html(str(html), shown=[
                 w.attendee.first_name, w.attendee.last_name, w.attendee.employer_name])),
    Renderer("admin: refund form", (Course, Registration, Refund), _refund_form,
             lambda w, html: checks.check_html(str(html), shown=[w.attendee.first_name])),
    Renderer("admin: set the meeting link", (Course, Offering), _meeting_link_page,
             lambda w, html: checks.check_html(str(html), shown=[w.course.title])),
    Renderer("admin: class change preview", (Course, Registration), _change_preview,
             lambda w, html: checks.check_html(str(html), shown=[w.course.title])),
    _admin("admin: class roster", (Course, Offering, Registration),
           lambda w: f"/admin/courses/offering/{w.offering.pk}/roster/",
           lambda w: [w.attendee.first_name, w.attendee.last_name, w.attendee.employer_name,
                      w.payer.first_name]),
    Renderer("admin: sign-in sheet", (Course, Offering, Registration), _sign_in_sheet,
             lambda w, html: checks.check_html(str(html), shown=[
                 w.course.title, w.attendee.first_name, w.attendee.last_name,
                 w.attendee.employer_name])),
    _admin("admin: broadcast preview", EMAIL_MODELS,
           lambda w: f"/admin/registrations/broadcast/{w.broadcast.pk}/change/",
           lambda w: [w.broadcast.subject]),
    Renderer("admin: outbox", EMAIL_MODELS, _outbox_page(False),
             lambda w, html: checks.check_html(str(html))),
    Renderer("admin: outbox row", EMAIL_MODELS, _outbox_page(True),
             lambda w, html: checks.check_html(str(html))),
    Renderer("admin: course history", (Course,), _history_page("course"),
             lambda w, html: checks.check_html(str(html))),
    Renderer("admin: registration history", (Course, Registration),
             _history_page("registration"), lambda w, html: checks.check_html(str(html))),
    _admin("admin: policy page", (PolicyPage,),
           lambda w: f"/admin/registrations/policypage/{w.terms.pk}/change/",
           lambda w: [w.terms.title]),
]  # fmt: skip
