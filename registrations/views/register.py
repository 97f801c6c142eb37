"""The registration form for one class, and the "check your email" page after it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from courses import catalogue
from courses.models import Course, Offering
from registrations import intake
from registrations.forms import RegistrationForm

from .ratelimits import over_limit, too_many_requests


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
                result = intake.registration_submit(
                    offering=offering, data=form.registration_data()
                )
            except intake.RegistrationClosed as closed:
                form.add_error(None, closed.message)
            else:
                request.session["registered"] = {
                    "created": result.created,
                    "work_email": form.cleaned_data["work_email"],
                    "email": form.cleaned_data["email"],
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
    """After the form: "check your email" (or "you are already registered")."""
    info = request.session.get("registered")
    if not info:
        return redirect("courses:course-list")
    offering = get_object_or_404(Offering.objects.select_related("course"), pk=info["offering"])
    return render(request, "registrations/registered.html", {"info": info, "offering": offering})
