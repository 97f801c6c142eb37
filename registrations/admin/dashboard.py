"""Admin: the training office's dashboard, shown on the admin's index page to members of the
Training administrator group (``roles.TRAINING_ADMINISTRATOR``) who may see registrations; others
get Django's usual index. The figures are ``registrations.reports.dashboard``'s; each number
links to the list it counts, filtered: a class's seats, holds and waitlist to its roster
(``roster`` filters), the review queue, the registrations needing attention
(``?needs_attention__exact=1``), the failed emails (``?status__exact=failed``).
"""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from registrations import roles
from registrations.reports import dashboard

from .display import waited
from .roster import VIEW_REGISTRATION, roster_url


def is_training_administrator(request: HttpRequest) -> bool:
    """A member of the Training administrator group who may see registrations (one query)."""
    user = request.user
    return (
        user.is_authenticated
        and user.has_perm(VIEW_REGISTRATION)
        and user.groups.filter(name=roles.TRAINING_ADMINISTRATOR).exists()
    )


def _class_rows(figures: list[dashboard.ClassFigures]) -> list[dict]:
    return [
        {
            "figures": c,
            "roster": roster_url(c.offering),
            "taken": roster_url(c.offering, seat="taken"),
            "held": roster_url(c.offering, seat="held"),
            "waitlisted": roster_url(c.offering, seat="waitlisted"),
        }
        for c in figures
    ]


def _decision_urls(offering) -> dict:  # type: ignore[no-untyped-def]
    """Where a go/no-go row's links go: the class's page and the class list filtered to it
    (the actions "Confirm the class runs" and "Cancel this class…")."""
    return {
        "change": reverse("admin:courses_offering_change", args=[offering.pk]),
        "filtered": reverse("admin:courses_offering_changelist") + f"?id__exact={offering.pk}",
    }


def dashboard_context(request: HttpRequest) -> dict:
    """The index page's ``dashboard`` (``StaffAdminSite.register_index_context``): the figures
    and the URLs of the lists they count, for a training administrator; nothing for others."""
    if not is_training_administrator(request):
        return {}
    now = timezone.now()
    figures = dashboard.dashboard(now)
    return {
        "dashboard": {
            "figures": figures,
            "classes": _class_rows(figures.classes),
            "below_minimum": _class_rows(figures.below_minimum),
            "nearly_full": _class_rows(figures.nearly_full),
            "go_no_go": [
                {**row, **_decision_urls(row["figures"].offering)}
                for row in _class_rows(figures.go_no_go)
            ],
            "offering_changelist": reverse("admin:courses_offering_changelist"),
            "review": [
                {
                    "waiting": w,
                    "waited": waited(w.since, now),
                    "url": reverse(
                        "admin:registrations_registrationunderreview_change",
                        args=[w.registration.pk],
                    ),
                }
                for w in figures.awaiting_review
            ],
            "review_url": reverse("admin:registrations_registrationunderreview_changelist"),
            "attention_url": reverse("admin:registrations_registration_changelist")
            + "?needs_attention__exact=1",
            "failed_url": reverse("admin:registrations_outboundemail_changelist")
            + "?status__exact=failed",
        }
    }


admin.site.register_index_context(dashboard_context)
