"""Public catalogue pages: course list, course page, offering page, offering calendar."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from citreg.middleware import public_page

from . import catalogue
from .calendar import ics_filename, offering_calendar
from .models import Course, Offering


@public_page
def course_list(request: HttpRequest) -> HttpResponse:
    """The catalogue's front page: every course with its next open class."""
    courses = Course.objects.order_by("title")
    return render(request, "courses/course_list.html", {"courses": courses})


@public_page
def course_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A course: the facts a visitor decides on first (tuition, length and format, who may
    attend, what they need), a jump to the next open day and evening class, the upcoming classes
    grouped by month, and the past classes folded into one line."""
    course = get_object_or_404(Course, slug=slug)
    now = timezone.now()
    listing = catalogue.course_listing(course, now)
    next_open = catalogue.next_open_by_part(listing["upcoming"], now)
    parts = [
        (part, label, next_open[part])
        for part, label in Offering.PartOfDay.choices
        if part in next_open
    ]
    return render(
        request,
        "courses/course_detail.html",
        {
            "course": course,
            "now": now,
            "next_open": parts,
            "part_choices": Offering.PartOfDay.choices,
            **listing,
        },
    )


def _public_offering(slug: str, pk: int) -> Offering:
    course = get_object_or_404(Course, slug=slug)
    try:
        return catalogue.public_offerings(course).get(pk=pk)
    except Offering.DoesNotExist:
        raise Http404("No such class") from None


@public_page
def offering_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One class: its sessions in MT and the visitor's zone, its state, how to attend."""
    offering = _public_offering(slug, pk)
    return render(
        request,
        "courses/offering_detail.html",
        {"course": offering.course, "offering": offering, "now": timezone.now()},
    )


@public_page
def offering_ics(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The class's sessions as an iCalendar file (``METHOD:PUBLISH``) to add to a calendar."""
    offering = _public_offering(slug, pk)
    response = HttpResponse(
        offering_calendar(offering), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{ics_filename(offering)}"'
    return response
