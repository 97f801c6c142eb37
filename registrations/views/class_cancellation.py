"""A registrant's choice after their class was cancelled: move to another class of the course, or
a full refund (``changes.class_cancellation``).

The emailed links (``class_cancellation.choice_url``, valid until the choice deadline) are
exchanged, as every emailed link is, for a grant in the browser's session and a redirect to the
token-less page (``/r/class-cancelled/<choice id>/move/`` or ``…/refund/``), which also opens
with the registration's manage grant (from the manage page). Both pages act on POST only and
are idempotent: once the choice has an outcome they show it."""

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from registrations import links
from registrations.changes import class_cancellation as service
from registrations.changes import transfers
from registrations.changes.models import CancellationChoice
from registrations.messaging import notices
from registrations.models import Registration

PAGES = {
    "move": "registrations:class-cancelled-move-page",
    "refund": "registrations:class-cancelled-refund-page",
}


class MoveForm(forms.Form):
    """The class to move to, one of the offered options."""

    target = forms.TypedChoiceField(
        coerce=int, widget=forms.RadioSelect, label="Move to", empty_value=None
    )

    def __init__(self, data: Any = None, *, options: list[transfers.TransferOption]) -> None:
        super().__init__(data)
        field = self.fields["target"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (
                o.offering.pk,
                f"{o.offering.date_label} · {o.offering.get_part_of_day_display()} "
                f"({o.seats_left} seat{'s' if o.seats_left != 1 else ''} left)",
            )
            for o in options
        ]


def _refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(
        request, "registrations/class_cancelled_error.html", {"message": message}, status=status
    )


def _from_token(request: HttpRequest, kind: str, token: str) -> HttpResponse:
    """Check the emailed token, grant this session the choice until the token's expiry
    (``links.grant_object``) and redirect (303, no referrer) to the token-less page."""
    try:
        link = links.read_object_link(service.LINK_SALT, token)
        choice = service.read_choice_link(link)
    except (links.LinkError, service.ChoiceRefused) as exc:
        expired = isinstance(exc, links.LinkError) and exc.expired
        response = _refused(request, str(exc), status=410 if expired else 400)
        response.headers["Referrer-Policy"] = "same-origin"
        return response
    links.grant_object(request.session, service.LINK_SALT, link)
    url = reverse(PAGES[kind], kwargs={"pk": choice.pk})
    response = HttpResponseRedirect(url, status=307 if request.method == "POST" else 303)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _granted_choice(request: HttpRequest, pk: int) -> CancellationChoice | None:
    """The choice ``pk`` when this session holds its grant (unexpired, for the registration's
    current course email) or the registration's manage grant; else None."""
    try:
        link = links.read_object_grant(request.session, service.LINK_SALT, pk)
        return service.read_choice_link(link)
    except (links.LinkError, service.ChoiceRefused):
        pass
    choice = service.cancellation_choice(pk)
    if choice is None:
        return None
    try:
        links.read_grant(request.session, links.MANAGE, choice.registration_id)
    except links.LinkError:
        return None
    return choice


def _page(
    request: HttpRequest, choice: CancellationChoice, kind: str, status: int = 200, **extra
) -> HttpResponse:
    registration = Registration.objects.select_related("offering__course").get(
        pk=choice.registration_id
    )
    return render(
        request,
        "registrations/class_cancelled_choice.html",
        {
            "choice": choice,
            "kind": kind,
            "registration": registration,
            "cancelled_offering": choice.cancellation.offering,
            "course": choice.cancellation.offering.course,
            "is_open": choice.outcome == CancellationChoice.Outcome.OPEN
            and choice.choice == CancellationChoice.Choice.PENDING,
            "manage_path": links.manage_page_path(registration),
            **extra,
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def move(request: HttpRequest, token: str | None = None, pk: int | None = None) -> HttpResponse:
    """GET: the classes the registrant may move to (``transfers.transfer_options``, the rules
    waived for a cancelled class). POST: move (``class_cancellation.choose_transfer``)."""
    if token is not None:
        return _from_token(request, "move", token)
    choice = _granted_choice(request, pk or 0)
    if choice is None:
        return _refused(request, "Open the link from your email in this browser.", status=403)
    is_open = choice.outcome == CancellationChoice.Outcome.OPEN
    options = transfers.transfer_options(choice.registration, by_staff=False) if is_open else []
    form = MoveForm(request.POST if request.method == "POST" else None, options=options)
    error = ""
    if request.method == "POST" and is_open and form.is_valid():
        try:
            choice = service.choose_transfer(choice.pk, form.cleaned_data["target"])
        except (service.ChoiceRefused, transfers.TransferRefused) as exc:
            error = exc.message
        else:
            return _page(request, choice, "move")
    status = 400 if request.method == "POST" and is_open else 200
    return _page(request, choice, "move", status, form=form, options=options, error=error)


@require_http_methods(["GET", "HEAD", "POST"])
def refund(request: HttpRequest, token: str | None = None, pk: int | None = None) -> HttpResponse:
    """GET: confirm the full refund. POST: refund every paid payment in full
    (``class_cancellation.choose_refund``) and show the outcome."""
    if token is not None:
        return _from_token(request, "refund", token)
    choice = _granted_choice(request, pk or 0)
    if choice is None:
        return _refused(request, "Open the link from your email in this browser.", status=403)
    if request.method == "POST" and choice.outcome == CancellationChoice.Outcome.OPEN:
        choice = service.choose_refund(choice.pk)
    paid = sum(p.refundable_cents for p in service.paid_payments(choice.registration_id))
    return _page(request, choice, "refund", paid_cents=paid)


def cancellation_context(registration: Registration) -> dict:
    """The manage page's "class cancelled" section (``_class_cancellation.html``): the
    registration's open choice (``class_cancellation.open_choice``) and its deadline as the
    attendee reads it; nothing once chosen or past the deadline."""
    choice = service.open_choice(registration)
    if choice is None:
        return {"cancellation_choice": None}
    return {
        "cancellation_choice": choice,
        "cancellation_deadline": notices.moment_label(
            registration, choice.cancellation.choice_deadline
        ),
    }
