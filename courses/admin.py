"""Admin for courses, offerings (with their sessions inline) and sessions.

Edits to an offering's sessions go through ``courses.scheduling.check_session_times`` in the inline
formset's ``clean``, so the admin and the importer enforce the same rules with the same messages.

``HistoryAdmin`` is the base of every admin whose model keeps an audit history (here and in
``registrations.admin``): its "History" page lists who changed what and when
(django-simple-history), read-only. It is a ``SingleLineFieldsAdmin``: every one-line text
column edited in the admin (a title, a name, a meeting link) refuses line breaks, tabs, controls
and invisible characters with a message naming the character (``courses.text.single_line``).
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import ForeignKey, Max, Min, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from .models import Course, Offering, Session, validate_time_zone
from .scheduling import (
    SessionTimes,
    check_session_times,
    offering_schedule_changed,
    registration_closes_at,
    session_times,
)
from .text import single_line
from .timefmt import session_label


class SingleLineURLField(forms.URLField):
    """A URL field that refuses line breaks, tabs and invisible characters with
    ``single_line``'s message before Django's URL parsing, which removes tabs and line breaks
    silently (``urllib.parse.urlsplit``, WHATWG URL) or answers "Enter a valid URL"."""

    def to_python(self, value: object) -> str:
        if isinstance(value, str):
            single_line(value.strip())
        return super().to_python(value)


class SingleLineFieldsAdmin:
    """Admin mixin (before ``admin.ModelAdmin`` in the bases): every ``CharField`` of the model
    (one line by its type; ``TextField`` is the multi-line one) gets the ``single_line``
    validator on its form field, and a ``URLField`` the ``SingleLineURLField``."""

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("form_class", SingleLineURLField)
        field = super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
        if field is not None and isinstance(db_field, models.CharField):
            field.validators.append(single_line)
        return field


class HistoryAdmin(SingleLineFieldsAdmin, SimpleHistoryAdmin):
    """An admin whose "History" page shows the model's audit history (``docs/architecture.md``,
    "Security and privacy"): each version with who made it, when, and the fields that changed.

    The history is a record, not an editor: reverting is off, and a POST to a version's page
    is refused (django-simple-history would save it, bypassing the services' rules). A
    version's page and the changes shown leave out what ``history_hidden_fields`` names, so a
    field hidden from a user on the change form stays hidden in its history too.
    """

    def history_hidden_fields(self, request: HttpRequest) -> set[str]:
        """Fields of the model whose old and new values ``request.user`` may not see."""
        return set()

    def revert_disabled(self, request: HttpRequest, obj: object = None) -> bool:
        return True

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context=None
    ):
        if request.method != "GET":
            raise PermissionDenied
        if not str(version_id).isdigit():  # e.g. a relative link of the form ("password/")
            raise Http404
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_history_queryset(self, request: HttpRequest, history_manager, pk_name, object_id):
        """The object's versions with their users and tracked foreign keys loaded (as
        django-simple-history's, without its argument-less ``select_related()`` for a model
        that has no foreign key, which Django deprecates)."""
        model = history_manager.model
        related = [f.name for f in model.tracked_fields if isinstance(f, ForeignKey)]
        if not isinstance(model.history_user, property):
            related.append("history_user")
        versions = history_manager.filter(**{pk_name: object_id})
        return versions.select_related(*related) if related else versions

    def set_history_delta_changes(
        self, request: HttpRequest, historical_records, foreign_keys_are_objs: bool = True
    ) -> None:
        """As django-simple-history's, but without the changes of hidden fields."""
        hidden = self.history_hidden_fields(request)
        previous = None
        for current in historical_records:
            if previous is None:
                previous = current
                continue
            delta = previous.diff_against(
                current, excluded_fields=hidden, foreign_keys_are_objs=foreign_keys_are_objs
            )
            helper = self.get_historical_record_context_helper(request, previous)
            previous.history_delta_changes = helper.context_for_delta_changes(delta)
            previous = current


@admin.register(Course)
class CourseAdmin(HistoryAdmin):
    list_display = ["title", "slug", "tuition_display", "default_capacity", "contact_hours"]
    prepopulated_fields = {"slug": ["title"]}
    search_fields = ["title", "slug"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "description"]}),
        ("Content", {"fields": ["topics", "learning_outcomes"]}),
        (
            "Eligibility and participation",
            {"fields": ["eligibility_statement", "participation_requirements"]},
        ),
        (
            "Format and price",
            {
                "fields": [
                    "contact_hours",
                    "sessions_per_offering",
                    "session_minutes",
                    "time_zone",
                    "tuition_cents",
                    "currency",
                    "default_capacity",
                    "registration_lead_hours",
                ]
            },
        ),
        ("Contact", {"fields": ["contact_email"]}),
        ("Reminders", {"fields": ["reminder_schedule"]}),
    ]

    @admin.display(description="Tuition", ordering="tuition_cents")
    def tuition_display(self, course: Course) -> str:
        return f"{course.tuition_cents / 100:,.2f} {course.currency.upper()}".replace(".00 ", " ")


class OfferingAdminForm(forms.ModelForm):
    """Refuses to cancel a class that still has active registrations: until a cancel-offering
    action exists (moving or refunding each attendee), staff must handle them first."""

    def clean_time_zone(self) -> str:
        # Checked here, before the value reaches the instance (whose name uses the zone).
        value = self.cleaned_data["time_zone"].strip()
        validate_time_zone(value)
        return value

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        offering = self.instance
        if status == Offering.Status.CANCELLED and offering.pk:
            active = offering.registrations.exclude(
                state__in=["rejected", "cancelled", "refunded"]
            ).count()
            if active:
                raise ValidationError(
                    f"This class has {active} active registration(s). Cancel or refund them "
                    "(Registrations → select → Cancel and refund) before cancelling the class."
                )
        return status


class SessionInlineFormSet(BaseInlineFormSet):
    """Checks the offering's sessions together and derives the offering's ``starts_on``."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        offering: Offering = self.instance
        times = [
            SessionTimes(form.cleaned_data["starts_at"], form.cleaned_data["ends_at"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if not getattr(offering, "course_id", None):
            return  # The offering form reports the missing course.
        try:
            ZoneInfo(offering.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return  # The offering form reports the unknown time zone.
        offering.starts_on = check_session_times(
            course=offering.course,
            time_zone=offering.time_zone,
            part_of_day=offering.part_of_day,
            times=times,
            offering=offering,
        )
        moved = any(form.has_changed() for form in self.forms)
        if times and (offering.registration_closes_at is None or moved):
            # New or moved sessions: registration closes at the course's lead time before the
            # (new) first session, as offering_reschedule does.
            first = min(t.starts_at for t in times)
            offering.registration_closes_at = registration_closes_at(offering.course, first)
        if (
            offering.registration_opens_at
            and offering.registration_closes_at
            and offering.registration_closes_at <= offering.registration_opens_at
        ):
            raise ValidationError("Registration must close after it opens.")


class SessionInline(admin.TabularInline):
    model = Session
    formset = SessionInlineFormSet
    extra = 0
    min_num = 1
    # Move a session by changing its times: the row (and the calendar UID made from it) stays,
    # so attendees' calendars update the entry instead of keeping a stale one.
    can_delete = False
    fields = ["starts_at", "ends_at"]


class UpcomingFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("upcoming", "Upcoming"), ("past", "Past")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "upcoming":
            return queryset.filter(last_end__gt=now)
        if self.value() == "past":
            return queryset.filter(last_end__lte=now)
        return queryset


@admin.register(Offering)
class OfferingAdmin(HistoryAdmin):
    list_display = [
        "__str__",
        "first_session",
        "part_of_day",
        "capacity",
        "status",
        "registration_closes_at",
    ]
    list_filter = ["status", "part_of_day", UpcomingFilter, "course"]
    list_select_related = ["course"]
    date_hierarchy = "starts_on"
    ordering = ["starts_on"]
    inlines = [SessionInline]
    readonly_fields = ["starts_on", "email_attendees", "roster", "created_at", "updated_at"]
    fields = [
        "course",
        "status",
        "part_of_day",
        "capacity",
        "time_zone",
        "starts_on",
        "registration_opens_at",
        "registration_closes_at",
        "meeting_url",
        "notes",
        "email_attendees",
        "roster",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Email the attendees")
    def email_attendees(self, offering: Offering) -> str:
        if not offering.pk:
            return "—"
        url = reverse("admin:registrations_broadcast_add")
        return format_html(
            '<a href="{}?offering={}&amp;audience=confirmed">Write to this class\'s '
            "registrations…</a> (changes to times or the meeting link are emailed "
            "to confirmed attendees automatically)",
            url,
            offering.pk,
        )

    @admin.display(description="Roster")
    def roster(self, offering: Offering) -> str:
        if not offering.pk:
            return "—"
        url = reverse("admin:registrations_registration_changelist")
        return format_html(
            '<a href="{}?offering__id__exact={}">This class\'s registrations</a> (select them '
            "and export a roster from the list; exports are recorded)",
            url,
            offering.pk,
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Offering]:
        return (
            super()
            .get_queryset(request)
            .annotate(first_start=Min("sessions__starts_at"), last_end=Max("sessions__ends_at"))
            .prefetch_related("sessions")
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        course = Course.objects.order_by("pk").first()
        if course:
            initial.setdefault("course", course.pk)
            initial.setdefault("capacity", course.default_capacity)
            initial.setdefault("time_zone", course.time_zone)
        initial.setdefault("status", Offering.Status.DRAFT)
        initial.setdefault("registration_opens_at", timezone.now())
        return initial

    def get_form(self, request: HttpRequest, obj: Offering | None = None, **kwargs: object):
        kwargs.setdefault("form", OfferingAdminForm)
        form = super().get_form(request, obj, **kwargs)
        closes = form.base_fields.get("registration_closes_at")
        if closes is not None:
            closes.required = False
            closes.help_text = (
                "Leave blank to close at the course's lead time (24 hours by default) before "
                "the first session."
            )
        return form

    def save_model(self, request: HttpRequest, obj: Offering, form, change: bool) -> None:
        if change:
            stored = Offering.objects.prefetch_related("sessions").get(pk=obj.pk)
            request._offering_before = (stored.meeting_url, session_times(stored.session_list))
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """After the sessions are saved: a change of times or meeting link raises the schedule
        version and sends confirmed attendees one update (``offering_schedule_changed``)."""
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_offering_before", None)
        if before is None:
            return
        offering = form.instance
        # Read afresh: the change view's offering carries the prefetched (old) sessions.
        times_changed = session_times(Session.objects.filter(offering=offering)) != before[1]
        link_changed = offering.meeting_url != before[0] and bool(offering.meeting_url)
        if times_changed or link_changed:
            offering_schedule_changed(
                offering, times_changed=times_changed, link_changed=link_changed
            )
            self.message_user(
                request,
                "Confirmed attendees will get an update with the new "
                f"{'times' if times_changed else 'meeting link'} and calendar invitation.",
            )

    @admin.display(description="First session", ordering="first_start")
    def first_session(self, offering: Offering) -> str:
        sessions = offering.session_list
        if not sessions:
            return "—"
        return session_label(sessions[0].starts_at, sessions[0].ends_at, offering.zone)


@admin.register(Session)
class SessionAdmin(HistoryAdmin):
    """Read-mostly list of sessions; times are edited on their offering so the rules hold."""

    list_display = ["__str__", "offering"]
    list_select_related = ["offering", "offering__course"]
    list_filter = ["offering__status", "offering__part_of_day"]
    ordering = ["starts_at"]
    date_hierarchy = "starts_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False
