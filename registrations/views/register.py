"""The registration form for one class, and the "check your email" page after it."""

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from courses import catalogue
from courses.models import Course, Offering
from registrations import eligibility, intake
from registrations.forms import RegistrationForm
from registrations.models.agency import email_domain, is_webmail

from .ratelimits import over_limit, too_many_requests


@dataclass(frozen=True)
class Route:
    """What confirming a typed work email will lead to, by the rule of
    ``eligibility.work_email_confirm``: ``kind`` is "agency" (a known agency domain: eligible at
    once), "webmail" or "unknown" (staff review); ``supervisor`` is True when the supervisor's
    address is on a known agency domain (they are asked to confirm during the review)."""

    kind: str
    domain: str
    supervisor: bool


def expected_route(work_email: str, supervisor_email: str) -> Route:
    """The ``Route`` for what was typed (normalised addresses). Reads the agency domains; says
    nothing about earlier registrations."""
    domain = email_domain(work_email)
    if eligibility.known_agency(work_email) is not None:
        return Route("agency", domain, False)
    kind = "webmail" if domain and is_webmail(domain) else "unknown"
    return Route(kind, domain, eligibility.known_agency(supervisor_email) is not None)


def _offering(slug: str, pk: int) -> Offering:
    course = get_object_or_404(Course, slug=slug)
    return get_object_or_404(catalogue.public_offerings(course), pk=pk)


@require_http_methods(["GET", "HEAD", "POST"])
def register(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The registration form for one class; refuses closed classes with a clear message."""
    offering = _offering(slug, pk)
    try:
        intake.ensure_open(offering)
    except intake.RegistrationClosed as closed:
        return render(
            request,
            "registrations/closed.html",
            {"offering": offering, "course": offering.course, "message": closed.message},
            status=409 if request.method == "POST" else 200,
        )
    form = RegistrationForm(request.POST or None)
    if request.method == "POST":
        if over_limit(request, "register", "RATELIMIT_REGISTER"):
            return too_many_requests(request)
        if form.is_valid():
            try:
                intake.registration_submit(offering=offering, data=form.registration_data())
            except intake.RegistrationClosed as closed:
                form.add_error(None, closed.message)
            else:
                route = expected_route(
                    form.cleaned_data["work_email"], form.cleaned_data["supervisor_email"]
                )
                # Only what was typed and what it means: whether the address had registered
                # before is not kept, so the next page cannot tell (the email says it).
                request.session["registered"] = {
                    "work_email": form.cleaned_data["work_email"],
                    "email": form.cleaned_data["email"],
                    "route": route.kind,
                    "domain": route.domain,
                    "supervisor": route.supervisor,
                    "offering": offering.pk,
                }
                return redirect("registrations:registered")
    return render(
        request,
        "registrations/register.html",
        {"offering": offering, "course": offering.course, "form": form, "now": timezone.now()},
        status=400 if request.method == "POST" else 200,
    )


def registered(request: HttpRequest) -> HttpResponse:
    """After the form: "check your email", and what happens next from what was typed (a known
    agency address, a webmail or an unknown one), the same whether or not the address had
    registered for the class before (then the email carries the link to that registration)."""
    info = request.session.get("registered")
    if not info:
        return redirect("courses:course-list")
    offering = get_object_or_404(Offering.objects.select_related("course"), pk=info["offering"])
    return render(
        request,
        "registrations/registered.html",
        {"info": info, "offering": offering, "course": offering.course},
    )
