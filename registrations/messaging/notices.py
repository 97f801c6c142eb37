"""What the registration process tells people by email: one function per message.

Each builds a JSON-safe context and a ``dedupe_key`` and hands the message to the pipeline
(``registrations.messaging.outbox.email_queue``), so it is sent after the surrounding transaction
commits. Times are written in the offering's zone (Mountain Time) and, when it differs, the
attendee's. Each kind of message is registered here with the outbox, with its hooks.

Personal links (``manage_url``, ``leave_url``, ``confirm_url``) are stored as
``outbox.PERSONAL_LINK`` and made when the message is sent (``with_links``, every kind's
``refresh_context``), so the email log never holds a working link (``docs/architecture.md``,
"Security and privacy"). A link is made only for the address the message was queued for: a
confirmation whose address changed since is skipped (``address_unchanged``), and a manage link goes
only to the registration's current course or work email (else the page where a new link can be
requested)."""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from courses import timefmt
from courses.calendar import ics_filename, offering_invitation
from courses.models import Offering
from courses.signals import offering_change_preview, offering_changed
from courses.templatetags.schedule import dollars
from courses.timefmt import (
    instant_label,
    local_instant_label,
    local_range_label,
    session_label,
    start_hours_note,
    with_viewer,
)
from registrations import links
from registrations.enums import RegistrationState as S
from registrations.models import Registration

from .models import OutboundEmail
from .outbox import PERSONAL_LINK, email_queue, register_kind, render_email

# Link keys a stored context may hold (as PERSONAL_LINK), made at sending time by ``with_links``.
LINK_KEYS = ("manage_url", "leave_url", "confirm_url")


def confirmed_only(email: OutboundEmail) -> str:
    """Outbox hook: a message for confirmed attendees only (a reminder queued before the
    attendee cancelled is skipped). Returns the reason not to send, or ""."""
    registration = email.registration
    if registration is not None and registration.state != S.CONFIRMED:
        return f"the registration is {registration.state}"
    return ""


def active_only(email: OutboundEmail) -> str:
    """Outbox hook: a message for active registrations only (not cancelled, refunded or
    rejected). Returns the reason not to send, or ""."""
    registration = email.registration
    if registration is not None and not registration.is_active:
        return f"the registration is {registration.state}"
    return ""


def address_unchanged(email: OutboundEmail) -> str:
    """Outbox hook of the confirmation kinds: the link confirms the address it is sent to, so
    a message queued for an address the registration no longer has is not sent (its link would
    confirm the new address at the old one). Returns the reason not to send, or ""."""
    registration = email.registration
    if registration is None or email.kind not in CONFIRM_LINKS:
        return ""
    current = getattr(registration, CONFIRM_LINKS[email.kind][1])
    if current.strip().lower() != email.to_email.strip().lower():
        return "the address changed after this message was queued"
    return ""


def request_link_url() -> str:
    """Absolute URL of the page where an attendee asks for a new manage link."""
    return f"{settings.SITE_URL}{reverse('registrations:request-link')}"


def manage_url_for(email: OutboundEmail) -> str:
    """The manage link to put in ``email`` now: the registration's own, when the message goes to
    its current course email or work email; else (the address was corrected since it was
    queued, or the registration is gone) the page where a new link can be requested."""
    registration = email.registration
    if registration is None:
        return request_link_url()
    addresses = {registration.email.strip().lower(), registration.work_email.strip().lower()}
    if email.to_email.strip().lower() not in addresses:
        return request_link_url()
    return links.manage_url(registration)


def with_links(email: OutboundEmail) -> dict:
    """Outbox hook (``refresh_context``) of every kind with a personal link: the stored context
    with each link key it holds (``LINK_KEYS``) made now, for the registration as it is now.
    A confirmation link is made by ``CONFIRM_LINKS``; the address check is ``address_unchanged``
    (asked first, when the row is claimed)."""
    context = dict(email.context)
    wanted = [key for key in LINK_KEYS if key in context]
    if not wanted:
        return context
    registration = email.registration
    if "manage_url" in wanted or "leave_url" in wanted:
        manage = manage_url_for(email)
        if "manage_url" in wanted:
            context["manage_url"] = manage
        if "leave_url" in wanted:
            own = manage != request_link_url()
            context["leave_url"] = manage + "leave-waitlist/" if own else manage
    if "confirm_url" in wanted and registration is not None and email.kind in CONFIRM_LINKS:
        context["confirm_url"] = CONFIRM_LINKS[email.kind][0](registration)
    return context


def _kind(name: str, label: str, **hooks: Callable[[OutboundEmail], str]) -> str:
    return register_kind(name, label, refresh_context=with_links, **hooks)


class Kind:
    """The kinds of message this module sends, registered with the outbox."""

    CONFIRM_WORK_EMAIL = _kind(
        "confirm_work_email", "Confirm work email", still_wanted=address_unchanged
    )
    CONFIRM_NEW_EMAIL = _kind(
        "confirm_new_email", "Confirm new course email", still_wanted=address_unchanged
    )
    SUPERVISOR_CONFIRMATION = _kind(
        "supervisor_confirmation",
        "Supervisor confirmation request",
        still_wanted=address_unchanged,
    )
    UNDER_REVIEW = _kind("under_review", "Eligibility under review")
    ELIGIBLE = _kind("eligible", "Eligible")
    REJECTED = _kind("rejected", "Not eligible")
    MANAGE_LINK = _kind("manage_link", "Manage link")
    CANCELLED = _kind("cancelled", "Registration cancelled")
    WAITLIST_JOINED = _kind("waitlist_joined", "Joined the waitlist")
    WAITLIST_OFFER = _kind("waitlist_offer", "Waitlist seat offer")
    WAITLIST_LEFT = _kind("waitlist_left", "Left the waitlist")
    HOLD_LAPSED = _kind("hold_lapsed", "Seat hold ended unpaid")
    PAYMENT_FAILED = _kind("payment_failed", "Payment failed")
    REFUND_ISSUED = _kind("refund_issued", "Refund issued")
    STAFF_ALERT = register_kind("staff_alert", "Staff alert")
    PAYMENT_ALERT = register_kind("payment_alert", "Staff alert: refused payment event")
    CONFIRMATION = _kind(
        "confirmation", "Confirmation with calendar invitation", still_wanted=confirmed_only
    )
    UPDATE = _kind("update", "Change of time or meeting link", still_wanted=confirmed_only)
    PLACE_ENDED = _kind("place_ended", "Place ended (calendar cancellation)")


# The confirmation links, by kind: how each is made and the address it is made for.
CONFIRM_LINKS: dict[str, tuple[Callable[[Registration], str], str]] = {
    Kind.CONFIRM_WORK_EMAIL: (links.work_email_url, "work_email"),
    Kind.CONFIRM_NEW_EMAIL: (links.new_email_url, "pending_email"),
    Kind.SUPERVISOR_CONFIRMATION: (links.supervisor_url, "supervisor_email"),
}


def attendee_zone(registration: Registration) -> ZoneInfo | None:
    """The attendee's recorded zone when it is valid and differs from the offering's, else None
    (then times are written in the offering's zone alone)."""
    zone = registration.time_zone
    if not zone or zone == registration.offering.time_zone:
        return None
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def session_lines(registration: Registration) -> list[str]:
    """One line per session: MT (MST/MDT), plus the attendee's own time in parentheses when
    their recorded zone reads differently (``courses.timefmt`` rules, as on the pages), e.g.
    "Thursday, January 7, 2027, 4:00 pm – 8:00 pm MST (your time: 6:00 pm – 10:00 pm EST)";
    a session crossing the attendee's midnight names both of their dates."""
    offering = registration.offering
    own = attendee_zone(registration)
    lines = []
    for session in offering.session_list:
        line = session_label(session.starts_at, session.ends_at, offering.zone)
        if own is not None:
            line = with_viewer(
                line, local_range_label(session.starts_at, session.ends_at, offering.zone, own)
            )
        lines.append(line)
    return lines


def times_note(registration: Registration) -> str:
    """The sentence under the session list: which zone the times are in, and (from the
    attendee's recorded zone) the note that their sessions start at different hours when a
    daylight saving switch falls between them in one zone only (``timefmt.start_hours_note``)."""
    offering = registration.offering
    own = attendee_zone(registration)
    if own is None:
        return "Times are Mountain Time (MT)."
    note = f"Times are Mountain Time (MT), with your time ({own.key}) in brackets."
    hours = start_hours_note([s.starts_at for s in offering.session_list], offering.zone, own)
    return f"{note} {hours}" if hours else note


def registration_context(registration: Registration) -> dict:
    """The context every registration email shares (strings only). ``manage_url`` is
    ``PERSONAL_LINK`` here: ``with_links`` makes the link when the message is sent."""
    offering = registration.offering
    return {
        "first_name": registration.first_name,
        "course_title": offering.course.title,
        "offering_label": f"{offering.date_label}, {offering.get_part_of_day_display().lower()}",
        "sessions": session_lines(registration),
        "times_note": times_note(registration),
        "manage_url": PERSONAL_LINK,
        "employer_name": registration.employer_name,
    }


def _queue(
    registration: Registration,
    kind: str,
    key: str,
    to: str = "",
    to_name: str = "",
    *,
    manage_link: bool = True,
    **context,
) -> None:
    shared = registration_context(registration)
    if not manage_link:  # a message to someone else than the attendee carries no manage link
        del shared["manage_url"]
    email_queue(
        kind=kind,
        to_email=to or registration.email,
        to_name=to_name or registration.full_name,
        template=f"emails/{kind}",
        context={**shared, **context},
        dedupe_key=key,
        registration=registration,
    )


def attendee_context(registration: Registration) -> dict:
    """``registration_context`` plus what a confirmed attendee needs to attend: the meeting link
    (only ever put in messages to confirmed attendees), the class's notes, the participation
    requirements and the contact address."""
    offering = registration.offering
    course = offering.course
    confirmed = registration.state == S.CONFIRMED
    return {
        **registration_context(registration),
        "meeting_url": offering.join_url if confirmed else "",
        "offering_notes": offering.notes,
        "participation_requirements": course.participation_requirements,
        "contact_email": course.contact_email or settings.TRAINING_ADMIN_EMAIL,
    }


def invitation_attachment(
    registration: Registration, method: str, offering: Offering | None = None
) -> dict:
    """The iTIP invitation (RFC 5546) for ``registration`` as a pipeline attachment.

    Args:
        method: "REQUEST" (confirmation, change) or "CANCEL" (the place ended).
        offering: the class whose sessions it names (default: the registration's; a move to
            another class cancels the previous one's, under their UIDs).

    Returns: ``{"filename", "content_type", "content"}``; the content type carries the method
    parameter as RFC 6047 §2.4 requires. The meeting link is included for confirmed attendees.
    """
    offering = offering or registration.offering
    confirmed = registration.state == S.CONFIRMED
    ics = offering_invitation(
        offering,
        method=method,
        attendee_email=registration.email,
        attendee_name=registration.full_name,
        meeting_url=offering.join_url if confirmed and method == "REQUEST" else "",
    )
    name = "cancel.ics" if method == "CANCEL" else "invite.ics"
    return {
        "filename": name if offering.pk is None else f"{ics_filename(offering)[:-4]}-{name}",
        "content_type": f"text/calendar; method={method}; charset=utf-8",
        "content": ics.decode(),
    }


def send_confirmation(registration: Registration) -> None:
    """Queue the confirmation of a confirmed registration, once (``confirmation:<id>``).

    Multipart text + HTML with both sessions (MT, and the attendee's zone when it differs), the
    meeting link if set, the camera/microphone requirement, what to prepare, the contact address,
    the manage link, and an iTIP ``METHOD:REQUEST`` invitation. Call it in the transaction that
    makes the registration confirmed (the message goes out after commit).

    Raises: ValueError when the registration is not confirmed.
    """
    if registration.state != S.CONFIRMED:
        raise ValueError(f"Registration {registration.pk} is {registration.state}, not confirmed.")
    email_queue(
        kind=Kind.CONFIRMATION,
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/confirmation",
        context=attendee_context(registration),
        attachments=[invitation_attachment(registration, "REQUEST")],
        dedupe_key=f"confirmation:{registration.pk}",
        registration=registration,
    )


def send_place_ended(registration: Registration, *, reason: str) -> None:
    """Queue the notice that a confirmed attendee's place ended, with an iTIP ``METHOD:CANCEL``
    for the same UIDs, so the sessions leave their calendar. Once per registration
    (``place-ended:<id>``).

    Args:
        registration: the registration (usually already cancelled or refunded).
        reason: one or two sentences for the attendee, e.g. "You cancelled your registration;
            a refund of $250.00 is on its way." (plain text).
    """
    email_queue(
        kind=Kind.PLACE_ENDED,
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/place_ended",
        context={**registration_context(registration), "reason": reason},
        attachments=[invitation_attachment(registration, "CANCEL")],
        dedupe_key=f"place-ended:{registration.pk}",
        registration=registration,
    )


def previous_session_lines(
    registration: Registration, times: Sequence[tuple[datetime, datetime]]
) -> list[str]:
    """The sessions as they were before a change, one line each, written like ``session_lines``:
    MT (MST/MDT) and, when the attendee's recorded zone reads differently, their own time
    beside it (``timefmt.with_viewer``)."""
    offering = registration.offering
    own = attendee_zone(registration)
    lines = []
    for starts_at, ends_at in sorted(times):
        line = session_label(starts_at, ends_at, offering.zone)
        if own is not None:
            line = timefmt.with_viewer(
                line, timefmt.local_range_label(starts_at, ends_at, offering.zone, own)
            )
        lines.append(line)
    return lines


def update_context(
    registration: Registration,
    *,
    times_changed: bool,
    link_changed: bool,
    previous_times: Sequence[tuple[datetime, datetime]] = (),
) -> dict:
    """The context of the change notice (``send_update``) and of its preview in the admin: the
    attendee's context with the new times (``sessions``) and, when the times changed and the old
    ones are known, the old ones (``previous_sessions``)."""
    return {
        **attendee_context(registration),
        "times_changed": times_changed,
        "link_changed": link_changed,
        "previous_sessions": previous_session_lines(registration, previous_times)
        if times_changed
        else [],
    }


def send_update(
    registration: Registration,
    *,
    times_changed: bool,
    link_changed: bool,
    previous_times: Sequence[tuple[datetime, datetime]] = (),
) -> None:
    """Queue one change notice for a confirmed attendee after staff changed session times or the
    meeting link: the old times (``previous_times``, aware (start, end) pairs, when known) and the
    new ones (MT and their zone), the link, and an iTIP ``METHOD:REQUEST`` with the same UIDs and
    the offering's new ``SEQUENCE``. Once per schedule version
    (``update:<registration>:<schedule version>``); other states get nothing.
    """
    if registration.state != S.CONFIRMED:
        return
    offering = registration.offering
    email_queue(
        kind=Kind.UPDATE,
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/update",
        context=update_context(
            registration,
            times_changed=times_changed,
            link_changed=link_changed,
            previous_times=previous_times,
        ),
        attachments=[invitation_attachment(registration, "REQUEST")],
        dedupe_key=f"update:{registration.pk}:{offering.schedule_version}",
        registration=registration,
    )


def send_work_email_confirmation(registration: Registration) -> None:
    """The signed link (48 h) that confirms the work email; sent to the work address. A new
    request sends a new message (and a new link)."""
    _queue(
        registration,
        Kind.CONFIRM_WORK_EMAIL,
        f"confirm-work-email:{registration.pk}:{uuid.uuid4().hex}",
        to=registration.work_email,
        confirm_url=PERSONAL_LINK,
        work_email=registration.work_email,
    )


def send_new_email_confirmation(registration: Registration) -> None:
    """The link that confirms a changed course email, sent to the new address."""
    _queue(
        registration,
        Kind.CONFIRM_NEW_EMAIL,
        f"confirm-new-email:{registration.pk}:{uuid.uuid4().hex}",
        to=registration.pending_email,
        confirm_url=PERSONAL_LINK,
        new_email=registration.pending_email,
    )


def send_supervisor_request(registration: Registration) -> None:
    """Ask the supervisor to confirm that the registrant works at the center (once)."""
    _queue(
        registration,
        Kind.SUPERVISOR_CONFIRMATION,
        f"supervisor:{registration.pk}:{registration.supervisor_email.lower()}",
        to=registration.supervisor_email,
        to_name=registration.supervisor_name,
        manage_link=False,
        confirm_url=PERSONAL_LINK,
        supervisor_name=registration.supervisor_name,
        registrant_name=registration.full_name,
    )


def payment_context(registration: Registration) -> dict:
    """What paying takes, for the eligibility messages: ``tuition`` in dollars ("$250") and
    ``pay_by``, the registration close (the last moment a seat can be taken, see
    ``seats.booking``) in MT and the attendee's time (``moment_label``), or "" once it has
    passed."""
    offering = registration.offering
    closes = offering.registration_closes_at
    return {
        "tuition": dollars(offering.course.tuition_cents),
        "pay_by": moment_label(registration, closes) if closes > timezone.now() else "",
    }


def send_under_review(registration: Registration) -> None:
    """Tell the registrant staff will review their eligibility, that no seat is held meanwhile,
    and the tuition and the date by which to pay once eligible (once)."""
    _queue(
        registration,
        Kind.UNDER_REVIEW,
        f"under-review:{registration.pk}",
        **payment_context(registration),
    )


def send_eligible(registration: Registration) -> None:
    """Tell the registrant they are eligible: the tuition, the date by which to pay (the
    registration close, in MT and their time), that the seat is theirs only once paid, and the
    manage link (once)."""
    _queue(
        registration, Kind.ELIGIBLE, f"eligible:{registration.pk}", **payment_context(registration)
    )


def send_rejected(registration: Registration, reason: str) -> None:
    """Tell the registrant they are not eligible, why, and whom to contact (once)."""
    _queue(registration, Kind.REJECTED, f"rejected:{registration.pk}", reason=reason)


def send_manage_link(registration: Registration) -> None:
    """A fresh manage link (on request, or when someone registers twice)."""
    _queue(registration, Kind.MANAGE_LINK, f"manage-link:{registration.pk}:{uuid.uuid4().hex}")


def send_cancelled(registration: Registration) -> None:
    """Confirm a cancellation (once)."""
    _queue(registration, Kind.CANCELLED, f"cancelled:{registration.pk}")


def send_waitlist_joined(registration: Registration, position: int | None) -> None:
    """Confirm a place on the waitlist, with the position and a leave link (once per joining)."""
    _queue(
        registration,
        Kind.WAITLIST_JOINED,
        f"waitlist-joined:{registration.pk}:{registration.waitlisted_at:%s}",
        position=position or "",
        leave_url=PERSONAL_LINK,
    )


def moment_label(registration: Registration, moment: datetime) -> str:
    """A deadline as the attendee should read it (``courses.timefmt`` rules, as on the pages):
    in the offering's zone, and in the attendee's recorded zone too, with their weekday, when it
    reads differently, e.g. "Tuesday, December 1, 2026, 11:53 pm MST (your time: Wednesday,
    December 2, 1:53 am EST)"."""
    offering = registration.offering
    text = instant_label(moment, offering.zone)
    own = attendee_zone(registration)
    if own is None:
        return text
    return with_viewer(text, local_instant_label(moment, offering.zone, own))


def send_waitlist_offer(registration: Registration) -> None:
    """A seat is free: the offer, when it ends (in MT and the attendee's zone), the checkout
    link and a leave link (once per offer).

    Raises: ValueError when the registration holds no offer (no ``hold_expires_at``).
    """
    offer_ends = registration.hold_expires_at
    if offer_ends is None:
        raise ValueError(f"Registration {registration.pk} holds no offer.")
    _queue(
        registration,
        Kind.WAITLIST_OFFER,
        f"waitlist-offer:{registration.pk}:{offer_ends:%s}",
        offer_ends=moment_label(registration, offer_ends),
        leave_url=PERSONAL_LINK,
    )


def send_waitlist_left(registration: Registration, *, lapsed: bool) -> None:
    """Confirm leaving the waitlist; a lapsed offer says so and that they may join again."""
    _queue(registration, Kind.WAITLIST_LEFT, f"waitlist-left:{registration.pk}", lapsed=lapsed)


def send_hold_lapsed(registration: Registration) -> None:
    """The seat held for checkout was not paid in time and is released; they may try again
    (once per hold: the key counts the registration's checkouts)."""
    _queue(
        registration,
        Kind.HOLD_LAPSED,
        f"hold-lapsed:{registration.pk}:{registration.payments.count()}",
    )


def send_payment_failed(registration: Registration) -> None:
    """A delayed payment failed; the seat was released; they may try again."""
    _queue(registration, Kind.PAYMENT_FAILED, f"payment-failed:{registration.pk}:{uuid.uuid4()}")


def send_payment_refunded_unwanted(registration: Registration, why: str) -> None:
    """Money arrived that the registration could not take; it is being refunded in full."""
    _queue(
        registration,
        Kind.REFUND_ISSUED,
        f"refund-unwanted:{registration.pk}:{uuid.uuid4().hex}",
        why=why,
        full=True,
    )


def send_refund_issued(
    registration: Registration, *, payment_id: int, paid_cents: int, total_cents: int
) -> None:
    """Tell the attendee how much has been refunded so far (once per refunded total)."""
    _queue(
        registration,
        Kind.REFUND_ISSUED,
        f"refund:{payment_id}:{total_cents}",
        refunded=f"${total_cents / 100:,.2f}",
        paid=f"${paid_cents / 100:,.2f}",
        full=total_cents >= paid_cents,
    )


def send_staff_alert(registration: Registration, reason: str) -> None:
    """Tell the training administration something needs a person (once per reason)."""
    _queue(
        registration,
        Kind.STAFF_ALERT,
        f"staff-alert:{registration.pk}:{uuid.uuid5(uuid.NAMESPACE_URL, reason).hex}",
        to=settings.TRAINING_ADMIN_EMAIL,
        to_name="Training administration",
        manage_link=False,
        reason=reason,
        registrant_name=registration.full_name,
        registrant_email=registration.email,
        admin_url=f"{settings.SITE_URL}/admin/registrations/registration/{registration.pk}/change/",
    )


def send_payment_alert(event_id: str, event_type: str, reason: str) -> None:
    """Tell the training administration that a signed Stripe event was refused and changed
    nothing, when it names no registration citreg can trust (a Checkout Session citreg did not
    create, money for a PaymentIntent that is not citreg's). Once per event: the dedupe key is
    the event id.

    Args:
        event_id: Stripe's event id (``evt_…``), as stored in ``WebhookEvent.stripe_event_id``.
        event_type: e.g. ``checkout.session.completed``.
        reason: why it was refused (plain text; no personal data).
    """
    email_queue(
        kind=Kind.PAYMENT_ALERT,
        to_email=settings.TRAINING_ADMIN_EMAIL,
        to_name="Training administration",
        template=f"emails/{Kind.PAYMENT_ALERT}",
        dedupe_key=f"payment-alert:{event_id}",
        context={
            "event_id": event_id,
            "event_type": event_type,
            "reason": reason,
            "admin_url": f"{settings.SITE_URL}/admin/registrations/webhookevent/?q={event_id}",
        },
    )


def confirmed_attendees(offering: Offering) -> QuerySet[Registration]:
    """The registrations of ``offering`` that a change notice goes to (confirmed), in id order,
    with what the notice reads loaded."""
    return (
        Registration.objects.filter(offering=offering, state=S.CONFIRMED)
        .select_related("offering__course")
        .prefetch_related("offering__sessions")
        .order_by("pk")
    )


def send_updates(
    offering: Offering,
    *,
    times_changed: bool,
    link_changed: bool,
    previous_times: Sequence[tuple[datetime, datetime]] = (),
) -> int:
    """Queue one change notice (``send_update``) per confirmed registration of ``offering``.

    Returns: how many registrations were told.
    """
    count = 0
    for registration in confirmed_attendees(offering):
        send_update(
            registration,
            times_changed=times_changed,
            link_changed=link_changed,
            previous_times=previous_times,
        )
        count += 1
    return count


def on_offering_changed(
    sender: object,
    *,
    offering: Offering,
    times_changed: bool,
    link_changed: bool,
    previous_times: Sequence[tuple[datetime, datetime]] = (),
    **kwargs: object,
) -> None:
    """Receiver of ``courses.signals.offering_changed``: tell the confirmed attendees."""
    send_updates(
        offering,
        times_changed=times_changed,
        link_changed=link_changed,
        previous_times=previous_times,
    )


def preview_update(
    sender: object,
    *,
    offering: Offering,
    times_changed: bool,
    link_changed: bool,
    previous_times: Sequence[tuple[datetime, datetime]] = (),
    **kwargs: object,
) -> dict:
    """Receiver of ``courses.signals.offering_change_preview``: what the change notice would be,
    queueing nothing. ``offering`` carries the new times (saved in a transaction the caller
    rolls back).

    Returns: ``{"count": confirmed attendees who would get it, "subject", "text"}`` with the
    message rendered for the first of them (the first in another zone than the class's, when
    there is one, so both zones show); subject and text are "" when nobody would get it.
    """
    attendees = list(confirmed_attendees(offering))
    if not attendees:
        return {"count": 0, "subject": "", "text": ""}
    sample = next((r for r in attendees if attendee_zone(r) is not None), attendees[0])
    email = OutboundEmail(
        kind=Kind.UPDATE,
        to_email=sample.email,
        to_name=sample.full_name,
        template="emails/update",
        context=update_context(
            sample,
            times_changed=times_changed,
            link_changed=link_changed,
            previous_times=previous_times,
        ),
    )
    subject, text, _ = render_email(email)
    return {"count": len(attendees), "subject": subject, "text": text}


offering_changed.connect(on_offering_changed, dispatch_uid="registrations-update")
offering_change_preview.connect(preview_update, dispatch_uid="registrations-update-preview")
