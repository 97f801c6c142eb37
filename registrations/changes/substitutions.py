"""A colleague takes a confirmed registration's place (a substitution).

Staff, or the attendee from the manage page, name a colleague (names and work email). Until
the deadline (the attendee: the transfer deadline, ``transfers.transfer_deadline``; staff: the
start of the first session) the colleague gets a signed link, valid until that deadline, to a
page with the registration form prefilled. Submitting it proves they read the work email (as
the normal work-email confirmation does) and gives their details; then eligibility is decided
exactly as on the normal path (``eligibility.known_agency``): a work email on a known agency
domain completes the substitution at once, anything else waits for staff, who approve or reject
it in the admin.

Completing it (``substitution_complete``) changes the same registration under its lock: the
person fields become the colleague's, the payment and the seat stay where they are (so a later
refund goes back to the original payment and its payer) and the history names both people.
The colleague gets the confirmation with a calendar ``REQUEST``; the original person gets a
notice with a calendar ``CANCEL`` made for their own address.

Which colleague may be named (``colleague_refusal``): a work email whose domain is the
registration's work-email domain, or (when the registration's domain is covered by a listed
``AgencyDomain``) any domain covered by the same ``AgencyDomain`` (a subdomain of the same
agency: ``dispatch.denver911.gov`` beside ``denver911.gov``). Never webmail, never the same
person (the registration's work or course email), never someone who already holds an active
registration in the class (``docs/architecture.md``, "Flows", "Substitutions").
"""

import copy
from datetime import datetime

from celery import shared_task
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from courses.models import Offering
from registrations import addresses, intake, links
from registrations.eligibility import known_agency
from registrations.enums import INACTIVE_STATES, ActorKind
from registrations.enums import RegistrationState as S
from registrations.locking import lock_seat
from registrations.messaging import notices
from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import PERSONAL_LINK, email_queue, register_kind
from registrations.models import Registration
from registrations.models.agency import email_domain, is_webmail
from registrations.transitions import Actor, registration_note

from .models import Substitution
from .transfers import first_start, transfer_deadline

Status = Substitution.Status
LINK_SALT = "registrations.substitution"
# The person fields that pass to the colleague (besides names, addresses and times).
DETAIL_FIELDS = (
    "phone",
    "role",
    "employer_name",
    "employer_city",
    "employer_state",
    "supervisor_name",
    "supervisor_email",
    "accessibility_needs",
    "time_zone",
)


class SubstitutionRefused(Exception):  # noqa: N818 -- the domain's word
    """The substitution is not allowed now; ``message`` says why, in words for the person
    asking."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


# ------------------------------------------------------------------ the rules


def substitution_deadline(registration: Registration, *, by_staff: bool) -> datetime | None:
    """The last moment a colleague may be named and may accept (aware): for the attendee the
    transfer deadline (``transfers.transfer_deadline``: the course's ``transfer_deadline_days``
    before the first session), for staff the start of the first session. None without
    sessions."""
    if by_staff:
        return first_start(registration.offering)
    return transfer_deadline(registration)


def deadline_of(substitution: Substitution) -> datetime | None:
    """The deadline that binds ``substitution``: staff's when staff asked, else the
    attendee's (``substitution_deadline``); its link expires then."""
    return substitution_deadline(
        substitution.registration, by_staff=substitution.actor == ActorKind.STAFF
    )


def substitution_refusal(registration: Registration, *, by_staff: bool, now: datetime) -> str:
    """Why no colleague can take this registration's place now, in words ("" when one may):
    the place is not confirmed, its class is cancelled, or the deadline
    (``substitution_deadline``) has passed.

    Args: ``now`` aware. Reads without locking: ``substitution_request`` checks again under
    the registration's lock."""
    if registration.state != S.CONFIRMED:
        return "Only a confirmed place can pass to a colleague."
    if registration.offering.status == Offering.Status.CANCELLED:
        return "This class is cancelled, so its places cannot pass to a colleague."
    deadline = substitution_deadline(registration, by_staff=by_staff)
    if deadline is not None and now >= deadline:
        if by_staff:
            return "The class has started: its place can no longer pass to a colleague."
        days = registration.offering.course.transfer_deadline_days
        return (
            f"A colleague can take your place until {days} day{'s' if days != 1 else ''} "
            "before the first session. Please write to the training office."
        )
    return ""


def same_agency(registration_work_email: str, colleague_work_email: str) -> bool:
    """True when the colleague's work email is on the registration's agency domain: the same
    normalised domain (``models.agency.email_domain``), or two domains covered by the same
    listed ``AgencyDomain`` (``eligibility.known_agency``: a subdomain of that agency). Webmail
    and untrustworthy domains are never the same agency."""
    ours, theirs = email_domain(registration_work_email), email_domain(colleague_work_email)
    if not ours or not theirs or is_webmail(theirs) or is_webmail(ours):
        return False
    if ours == theirs:
        return True
    agency = known_agency(registration_work_email)
    return agency is not None and known_agency(colleague_work_email) == agency


def _holds_place(registration: Registration, address: str) -> bool:
    """Whether ``address`` (course or work email) already has an active registration in the
    class, other than ``registration``."""
    if (other := intake.active_registration(registration.offering, address)) is not None:
        return other.pk != registration.pk
    return (
        Registration.objects.filter(offering_id=registration.offering_id)
        .filter(Q(work_email__iexact=address.strip()))
        .exclude(state__in=INACTIVE_STATES)
        .exclude(pk=registration.pk)
        .exists()
    )


def colleague_refusal(registration: Registration, work_email: str) -> str:
    """Why the colleague at ``work_email`` cannot take this place, in words ("" when they may):
    not a usable address, webmail, the same person (the registration's work or course email),
    another agency (``same_agency``), or already holding an active registration in the class."""
    try:
        address = addresses.clean_email(work_email)
    except ValidationError as error:
        return error.messages[0]
    domain = email_domain(address)
    if not domain or is_webmail(domain):
        return (
            "Please give your colleague's work email at the agency: a webmail address cannot "
            "show that they work there."
        )
    mine = {registration.work_email.strip().lower(), registration.email.strip().lower()}
    if address.lower() in mine:
        return "That is this registration's own address: name the colleague who takes the place."
    if not same_agency(registration.work_email, address):
        shown = addresses.display_domain(email_domain(registration.work_email))
        return f"Your colleague's work email must be on the same agency domain ({shown})."
    if _holds_place(registration, address):
        return "That colleague already has a registration for this class."
    return ""


def is_open(substitution: Substitution) -> bool:
    """Whether it still waits for the colleague or for staff."""
    return substitution.status in Substitution.OPEN_STATUSES


def _expire_if_due(substitution: Substitution, now: datetime) -> bool:
    """Expire an open substitution whose deadline has passed (locked, recorded); True when it
    expired now."""
    deadline = deadline_of(substitution)
    if not is_open(substitution) or deadline is None or now < deadline:
        return False
    with transaction.atomic():
        locked = Substitution.objects.select_for_update().get(pk=substitution.pk)
        if not is_open(locked):
            return False
        locked.status = Status.EXPIRED
        locked.save(update_fields=["status", "updated_at"])
        registration_note(
            locked.registration,
            actor=Actor.system(),
            reason=f"Substitution by {locked.first_name} {locked.last_name} "
            f"<{locked.work_email}> expired: not completed before the deadline.",
        )
    substitution.status = Status.EXPIRED
    return True


def open_substitution(
    registration: Registration, now: datetime | None = None
) -> Substitution | None:
    """The registration's open substitution (waiting for the colleague or for staff), or None.
    One past its deadline is expired first (lazily; ``expire_substitutions`` does it in the
    background)."""
    now = now or timezone.now()
    found = (
        Substitution.objects.filter(
            registration=registration, status__in=Substitution.OPEN_STATUSES
        )
        .select_related("registration__offering__course")
        .first()
    )
    if found is None or _expire_if_due(found, now):
        return None
    return found


def expire_due(now: datetime | None = None) -> int:
    """Expire every open substitution past its deadline; returns how many. Idempotent."""
    now = now or timezone.now()
    rows = Substitution.objects.filter(status__in=Substitution.OPEN_STATUSES).select_related(
        "registration__offering__course"
    )
    return sum(_expire_if_due(row, now) for row in rows)


@shared_task(name="registrations.expire_substitutions", ignore_result=True)
def expire_substitutions() -> int:
    """Beat entry point of ``expire_due``."""
    return expire_due()


# ------------------------------------------------------------------ the colleague's link


def substitution_url(substitution: Substitution) -> str:
    """Absolute URL of the colleague's page: signed (``links.object_url``), valid until the
    substitution's deadline (``deadline_of``) and only for its current work email."""
    deadline = deadline_of(substitution) or timezone.now()
    return links.object_url(
        "registrations:substitute", LINK_SALT, substitution.pk, substitution.work_email, deadline
    )


def read_substitution_link(link: links.ObjectLink) -> Substitution:
    """The open substitution a checked link or grant names (``links.read_object_link`` /
    ``read_object_grant`` with ``LINK_SALT``).

    Raises: SubstitutionRefused — unknown, made for another work email, withdrawn or expired
    (in words for the colleague)."""
    substitution = (
        Substitution.objects.select_related("registration__offering__course")
        .filter(pk=link.pk)
        .first()
    )
    if substitution is None or not link.made_for(substitution.work_email):
        raise SubstitutionRefused("This link is not valid any more.")
    _expire_if_due(substitution, timezone.now())
    if substitution.status == Status.EXPIRED:
        raise SubstitutionRefused("The time to take this place has ended.")
    if substitution.status == Status.WITHDRAWN:
        raise SubstitutionRefused("This request has been withdrawn.")
    return substitution


# ------------------------------------------------------------------ emails


def _invite_substitution(email: OutboundEmail) -> Substitution | None:
    pk = email.context.get("substitution_id")
    return (
        Substitution.objects.select_related("registration__offering__course").filter(pk=pk).first()
    )


def _invite_still_wanted(email: OutboundEmail) -> str:
    """Outbox hook: the invitation goes only while the substitution waits for the colleague."""
    substitution = _invite_substitution(email)
    if substitution is None or substitution.status != Status.PENDING_EMAIL:
        return "the substitution is no longer waiting for the colleague"
    return ""


def _invite_links(email: OutboundEmail) -> dict:
    """Outbox hook: the colleague's link, made when the message is sent."""
    context = dict(email.context)
    substitution = _invite_substitution(email)
    if substitution is not None:
        context["confirm_url"] = substitution_url(substitution)
    return context


INVITE = register_kind(
    "substitution_invite",
    "Substitution: a colleague is asked to take the place",
    still_wanted=_invite_still_wanted,
    refresh_context=_invite_links,
)
CONFIRMED = register_kind(
    "substitution_confirmed",
    "Substitution: the colleague's confirmation with calendar invitation",
    still_wanted=notices.confirmed_only,
    refresh_context=notices.with_links,
)
SUBSTITUTED = register_kind(
    "substituted", "Substitution: the original person's notice (calendar cancellation)"
)
ENDED = register_kind(
    "substitution_ended",
    "Substitution: the colleague will not take the place",
    refresh_context=notices.with_links,
)


def send_invite(substitution: Substitution) -> None:
    """Queue the colleague's invitation (to their work email, once per substitution): the
    class, who asked, and their link (made when sent), valid until the deadline."""
    registration = substitution.registration
    context = notices.registration_context(registration)
    del context["manage_url"]  # the colleague does not manage this registration (yet)
    deadline = deadline_of(substitution)
    email_queue(
        kind=INVITE,
        to_email=substitution.work_email,
        to_name=f"{substitution.first_name} {substitution.last_name}",
        template=f"emails/{INVITE}",
        context={
            **context,
            "first_name": substitution.first_name,
            "original_name": registration.full_name,
            "work_email": substitution.work_email,
            "confirm_url": PERSONAL_LINK,
            "substitution_id": substitution.pk,
            "valid_until": notices.moment_label(registration, deadline) if deadline else "",
        },
        dedupe_key=f"substitution-invite:{substitution.pk}",
        registration=registration,
    )


def send_completed(
    substitution: Substitution, registration: Registration, original: Registration
) -> None:
    """The colleague's confirmation (``REQUEST``) and the original person's notice
    (``CANCEL`` made for their own address and name); ``original`` is the registration as it
    was before it passed."""
    email_queue(
        kind=CONFIRMED,
        to_email=registration.email,
        to_name=registration.full_name,
        template=f"emails/{CONFIRMED}",
        context={**notices.attendee_context(registration), "original_name": original.full_name},
        attachments=[notices.invitation_attachment(registration, "REQUEST")],
        dedupe_key=f"substitution-confirmed:{substitution.pk}",
        registration=registration,
    )
    context = notices.registration_context(original)
    del context["manage_url"]  # the place is no longer theirs
    email_queue(
        kind=SUBSTITUTED,
        to_email=original.email,
        to_name=original.full_name,
        template=f"emails/{SUBSTITUTED}",
        context={**context, "colleague_name": registration.full_name},
        attachments=[notices.invitation_attachment(original, "CANCEL")],
        dedupe_key=f"substituted:{substitution.pk}",
        registration=registration,
    )


def send_ended(substitution: Substitution, why: str) -> None:
    """Tell the person holding the place that the colleague will not take it, and why."""
    registration = substitution.registration
    notices_context = notices.registration_context(registration)
    email_queue(
        kind=ENDED,
        to_email=registration.email,
        to_name=registration.full_name,
        template=f"emails/{ENDED}",
        context={
            **notices_context,
            "colleague_name": f"{substitution.first_name} {substitution.last_name}",
            "why": why,
        },
        dedupe_key=f"substitution-ended:{substitution.pk}",
        registration=registration,
    )


# ------------------------------------------------------------------ the steps


def _actor_label(actor: Actor) -> str:
    if actor.kind == ActorKind.STAFF and actor.user is not None:
        return f"staff ({actor.user.get_username()})"
    return str(ActorKind(actor.kind).label).lower()


def substitution_request(
    registration: Registration,
    *,
    first_name: str,
    last_name: str,
    work_email: str,
    actor: Actor,
    now: datetime | None = None,
) -> Substitution:
    """Name a colleague to take ``registration``'s place and email them their link.

    Under the registration's lock (``locking.lock_seat``) the rules are checked again
    (``substitution_refusal`` for the actor, ``colleague_refusal``), a ``Substitution`` with
    the snapshot of the original person is created (one open per registration) and a history
    note and the colleague's email (``substitution_invite``, sent after commit) are queued.

    Args: names as typed (one line each, the form checks them); ``work_email`` normalised here
        (``addresses.clean_email``); ``actor`` the attendee or staff; ``now`` aware.

    Raises: SubstitutionRefused (``message`` in words): a rule refuses, or another
    substitution is open.
    """
    now = now or timezone.now()
    by_staff = actor.kind == ActorKind.STAFF
    first_name, last_name = first_name.strip(), last_name.strip()
    if not first_name or not last_name:
        raise SubstitutionRefused("Please give your colleague's first and last name.")
    with transaction.atomic():
        _, locked = lock_seat(registration)
        locked = Registration.objects.select_related("offering__course").get(pk=locked.pk)
        refusal = substitution_refusal(locked, by_staff=by_staff, now=now) or colleague_refusal(
            locked, work_email
        )
        if refusal:
            raise SubstitutionRefused(refusal)
        if open_substitution(locked, now) is not None:
            raise SubstitutionRefused(
                "A colleague has already been asked to take this place. Withdraw that request "
                "first."
            )
        address = addresses.clean_email(work_email)
        substitution = Substitution.objects.create(
            registration=locked,
            actor=actor.kind,
            staff_user=actor.user,
            original_first_name=locked.first_name,
            original_last_name=locked.last_name,
            original_email=locked.email,
            original_work_email=locked.work_email,
            first_name=first_name,
            last_name=last_name,
            work_email=address,
            email=address,
        )
        registration_note(
            locked,
            actor=actor,
            reason=f"Substitution requested by {_actor_label(actor)}: {first_name} {last_name} "
            f"<{address}> to take the place of {locked.full_name} <{locked.email}>.",
        )
        send_invite(substitution)
    return substitution


def substitution_submit(
    substitution: Substitution, *, data: dict, now: datetime | None = None
) -> Substitution:
    """The colleague opened their link and sent their details: the work email is confirmed
    (as ``eligibility.work_email_confirm`` does for a registrant) and eligibility decided the
    same way: a work email on a known agency domain (``eligibility.known_agency``) completes
    the substitution now (``substitution_complete``); otherwise it waits for staff
    (``pending_review``) and the training office is alerted.

    Args: ``data`` the cleaned fields of the colleague's form (``first_name``, ``last_name``,
        ``email``, and ``DETAIL_FIELDS``); addresses normalised here.

    Returns: the substitution re-read. Idempotent: a substitution no longer waiting for the
    colleague is returned unchanged.

    Raises: SubstitutionRefused when the course email already has a place in the class, the
    registration can no longer pass, or the deadline passed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The lock order of ``substitution_complete``: the offering and the registration, then
        # the substitution.
        lock_seat(substitution.registration)
        locked = (
            Substitution.objects.select_for_update()
            .select_related("registration__offering__course")
            .get(pk=substitution.pk)
        )
        if locked.status != Status.PENDING_EMAIL:
            return locked
        if _expire_if_due(locked, now):
            raise SubstitutionRefused("The time to take this place has ended.")
        registration = locked.registration
        email = addresses.clean_email(data.get("email") or locked.work_email)
        mine = {registration.work_email.strip().lower(), registration.email.strip().lower()}
        if email.lower() in mine:
            raise SubstitutionRefused(
                "That email belongs to the person whose place you take: please give your own."
            )
        if _holds_place(registration, email):
            raise SubstitutionRefused("That email already has a registration for this class.")
        locked.first_name = data["first_name"]
        locked.last_name = data["last_name"]
        locked.email = email
        details = {name: data.get(name, "") for name in DETAIL_FIELDS}
        if details["supervisor_email"]:
            details["supervisor_email"] = addresses.clean_email(details["supervisor_email"])
        details["attested_at"] = now.isoformat()
        locked.details = details
        locked.work_email_confirmed_at = now
        agency = known_agency(locked.work_email)
        if agency is None:
            locked.status = Status.PENDING_REVIEW
        locked.save()
        if agency is None:
            registration_note(
                registration,
                actor=Actor.attendee(),
                reason=f"Substitution: {locked.first_name} {locked.last_name} confirmed "
                f"{locked.work_email}; {email_domain(locked.work_email)} is not a known agency "
                "domain, so staff review their eligibility.",
            )
            notices.send_staff_alert(
                registration,
                f"Substitution {locked.pk}: the colleague's eligibility needs review "
                f"({locked.work_email}).",
            )
            return locked
        return substitution_complete(
            locked,
            actor=Actor.attendee(),
            reason=f"work email confirmed on known agency domain {agency.domain}",
            now=now,
        )


def substitution_complete(
    substitution: Substitution,
    *,
    actor: Actor | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Substitution:
    """Pass the registration to the colleague, their eligibility being established.

    Under the registration's lock (``locking.lock_seat``: its offering, then it) the person
    fields become the colleague's (names, course and work email, ``DETAIL_FIELDS``, the
    attestation times and ``work_email_confirmed_at``; a pending course-email change and a
    supervisor confirmation are dropped), the substitution is completed, a history note names
    both people, and two emails are queued (after commit): the colleague's confirmation with a
    calendar ``REQUEST`` and the original person's notice with a ``CANCEL`` for their address.
    The payment and the seat need nothing: it is the same registration, so a refund still goes
    to the original payment.

    Returns: the substitution re-read (idempotent: a completed one is returned as is).

    Raises: SubstitutionRefused when the registration is no longer confirmed or the course
    email already has another place in the class.
    """
    now = now or timezone.now()
    actor = actor or Actor.system()
    with transaction.atomic():
        _, registration = lock_seat(substitution.registration)
        locked = Substitution.objects.select_for_update().get(pk=substitution.pk)
        if locked.status == Status.COMPLETED:
            return locked
        if not is_open(locked) or locked.work_email_confirmed_at is None:
            raise SubstitutionRefused("This substitution is not waiting to be completed.")
        registration = Registration.objects.select_related("offering__course").get(
            pk=registration.pk
        )
        if registration.state != S.CONFIRMED:
            raise SubstitutionRefused("The place is no longer confirmed, so it cannot pass.")
        if _holds_place(registration, locked.email) or _holds_place(
            registration, locked.work_email
        ):
            raise SubstitutionRefused("The colleague already has a registration for this class.")
        original = copy.copy(registration)
        details = locked.details or {}
        registration.first_name = locked.first_name
        registration.last_name = locked.last_name
        registration.email = locked.email
        registration.work_email = locked.work_email
        registration.pending_email = ""
        for name in DETAIL_FIELDS:
            if name in details:
                setattr(registration, name, details[name])
        attested = (
            datetime.fromisoformat(details["attested_at"]) if "attested_at" in details else now
        )
        registration.attested_at = attested
        registration.participation_acknowledged_at = attested
        registration.terms_accepted_at = attested
        registration.work_email_confirmed_at = locked.work_email_confirmed_at
        registration.supervisor_confirmed_at = None
        registration._change_reason = f"Substitution {locked.pk}"  # type: ignore[attr-defined]
        registration.save()
        locked.status = Status.COMPLETED
        locked.completed_at = now
        locked.save(update_fields=["status", "completed_at", "updated_at"])
        because = f" ({reason})" if reason else ""
        registration_note(
            registration,
            actor=actor,
            reason=f"Place passed from {original.full_name} <{original.email}> to "
            f"{registration.full_name} <{registration.email}> (substitution {locked.pk})"
            f"{because}; payment and seat unchanged.",
        )
        send_completed(locked, registration, original)
    locked.refresh_from_db()
    return locked


def substitution_approve(substitution: Substitution, *, staff_user: User) -> Substitution:
    """Staff approve the colleague's eligibility (a substitution in ``pending_review``): it
    completes (``substitution_complete``) with the decision recorded.

    Raises: SubstitutionRefused when it is not under review or cannot complete."""
    if substitution.status != Status.PENDING_REVIEW:
        raise SubstitutionRefused("Only a substitution under review can be approved.")
    with transaction.atomic():
        Substitution.objects.filter(pk=substitution.pk).update(decided_by=staff_user)
        return substitution_complete(
            substitution,
            actor=Actor.staff(staff_user),
            reason="the colleague's eligibility approved by staff",
        )


def substitution_reject(
    substitution: Substitution, *, staff_user: User, reason: str
) -> Substitution:
    """Staff reject the colleague's eligibility: the substitution ends (``rejected``) with the
    reason, the place stays with the person holding it, who is told.

    Raises: ValidationError without a reason; SubstitutionRefused when it is not under
    review."""
    reason = reason.strip()
    if not reason:
        raise ValidationError("Give a reason.")
    with transaction.atomic():
        locked = (
            Substitution.objects.select_for_update()
            .select_related("registration__offering__course")
            .get(pk=substitution.pk)
        )
        if locked.status == Status.REJECTED:
            return locked
        if locked.status != Status.PENDING_REVIEW:
            raise SubstitutionRefused("Only a substitution under review can be rejected.")
        locked.status = Status.REJECTED
        locked.decided_by = staff_user
        locked.decision_reason = reason
        locked.save(update_fields=["status", "decided_by", "decision_reason", "updated_at"])
        registration_note(
            locked.registration,
            actor=Actor.staff(staff_user),
            reason=f"Substitution by {locked.first_name} {locked.last_name} <{locked.work_email}> "
            f"rejected: {reason}",
        )
        send_ended(locked, reason)
    return locked


def substitution_withdraw(substitution: Substitution, *, actor: Actor) -> Substitution:
    """The attendee or staff withdraw an open substitution: the place stays as it is.
    Idempotent (a substitution that is no longer open is returned unchanged)."""
    with transaction.atomic():
        locked = (
            Substitution.objects.select_for_update()
            .select_related("registration__offering__course")
            .get(pk=substitution.pk)
        )
        if not is_open(locked):
            return locked
        locked.status = Status.WITHDRAWN
        locked.save(update_fields=["status", "updated_at"])
        registration_note(
            locked.registration,
            actor=actor,
            reason=f"Substitution by {locked.first_name} {locked.last_name} <{locked.work_email}> "
            f"withdrawn by {_actor_label(actor)}.",
        )
    return locked
