"""Admin for courses, offerings (with their sessions inline) and sessions.

Edits to an offering's sessions go through ``courses.scheduling.check_session_times`` in the inline
formset's ``clean``, so the admin and the importer enforce the same rules with the same messages.

``HistoryAdmin`` is the base of every admin whose model keeps an audit history (here and in
``registrations.admin``): its "History" page lists who changed what and when
(django-simple-history), read-only. It is a ``SingleLineFieldsAdmin``: every one-line text
column edited in the admin (a title, a name, a meeting link) refuses line breaks, tabs, controls
and invisible characters with a message naming the character (``courses.text.single_line``).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AdminTimeWidget
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Case, F, ForeignKey, Max, Min, QuerySet, Value, When
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from .catalogue import seats_taken
from .models import ALL_CLASSES, MIN_TUITION_CENTS, Course, Offering, Session, validate_time_zone
from .scheduling import (
    SessionTimes,
    check_session_times,
    offering_duplicate,
    offering_schedule_changed,
    registration_closes_at,
    session_times,
)
from .signals import offering_change_preview
from .text import MultiLineField, single_line
from .timefmt import instant_label, session_label


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
    validator on its form field, a ``URLField`` the ``SingleLineURLField``, and a ``TextField``
    the ``MultiLineField`` (line breaks counted once, no controls or bidi overrides). Two more rules
    for every admin form: a class picker (a foreign key to ``Offering``) lists upcoming classes
    first (``upcoming_first``), and a date-and-time field says its zone in its help text."""

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("form_class", SingleLineURLField)
        if isinstance(db_field, models.TextField) and not db_field.choices:
            kwargs.setdefault("form_class", MultiLineField)
        field = super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
        if field is not None and isinstance(db_field, models.CharField):
            field.validators.append(single_line)
        if (
            isinstance(field, forms.ModelChoiceField)
            and isinstance(db_field, models.ForeignKey)
            and db_field.related_model is Offering
        ):
            field.queryset = upcoming_first(self._picker_classes(db_field, request, field.queryset))
        if isinstance(db_field, models.DateTimeField) and field is not None:
            zone = ZoneInfo(settings.TIME_ZONE)
            note = f"Mountain Time ({zone_label(zone)})."
            field.help_text = f"{field.help_text} {note}".strip() if field.help_text else note
        return field

    def _picker_classes(
        self, db_field: models.ForeignKey, request: HttpRequest, queryset: QuerySet[Offering]
    ) -> QuerySet[Offering]:
        """A class picker's classes: those not over for more than ``RECENT_CLASSES``, plus the
        one the object already points at and one the page was opened with (``?offering=``),
        so an old record still saves; every class with ``?older_classes=1``."""
        if request.GET.get(OLDER_CLASSES):
            return queryset
        keep: set[object] = set()
        object_id = getattr(request.resolver_match, "kwargs", {}).get("object_id")
        if object_id and str(object_id).isdigit():
            model = db_field.model
            keep.update(
                model._default_manager.filter(pk=object_id).values_list(db_field.attname, flat=True)
            )
        typed = request.GET.get(db_field.name, "")
        if typed.isdigit():
            keep.add(int(typed))
        keep.discard(None)
        recent = recent_or_upcoming(queryset)
        return (recent | queryset.filter(pk__in=keep)) if keep else recent


# Add to an admin page's address to list older classes in its class pickers too.
OLDER_CLASSES = "older_classes"


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


class CourseAdminForm(forms.ModelForm):
    """The course form takes the tuition in dollars (stored in integer cents,
    ``Course.tuition_cents``)."""

    tuition = forms.DecimalField(
        label="Tuition (USD)",
        min_value=Decimal(MIN_TUITION_CENTS) / 100,
        max_digits=9,
        decimal_places=2,
        help_text="Per attendee, in dollars, e.g. 250.00 (at least 0.50: Stripe's smallest "
        "card payment in US dollars).",
    )

    class Meta:
        model = Course
        fields: list[str] = []  # CourseAdmin's fieldsets choose them (tuition_cents is not one)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if "tuition" not in self.initial:
            self.initial["tuition"] = Decimal(self.instance.tuition_cents) / 100

    def clean(self) -> dict:
        data = super().clean()
        if data.get("tuition") is not None:
            self.instance.tuition_cents = int((data["tuition"] * 100).to_integral_value())
        return data


@admin.register(Course)
class CourseAdmin(HistoryAdmin):
    form = CourseAdminForm
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
                    "tuition",
                    "currency",
                    "default_capacity",
                    "registration_lead_hours",
                ]
            },
        ),
        ("Contact", {"fields": ["contact_email"]}),
        ("Reminders", {"fields": ["reminder_schedule"]}),
        (
            "Transfers to another class",
            {"fields": ["transfer_deadline_days", "transfer_limit", "transfer_fee_cents"]},
        ),
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

    def clean_capacity(self) -> int:
        """Never fewer seats than are taken now (confirmed, paying, held)."""
        capacity = self.cleaned_data["capacity"]
        if self.instance.pk and capacity is not None:
            taken = seats_taken(self.instance)
            if taken is not None and capacity < taken:
                raise ValidationError(
                    f"{taken} seats are taken (confirmed, paying or held): the capacity cannot "
                    f"go below {taken}. Cancel or transfer registrations first."
                )
        return capacity

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        offering = self.instance
        if status == Offering.Status.CANCELLED and offering.pk:
            active = offering.registrations.exclude(
                state__in=["rejected", "cancelled", "refunded"]
            ).count()
            if active:
                raise ValidationError(
                    f"This class has {active} active registration(s). Use the action “Cancel "
                    "this class…” on the class list: it tells, refunds or moves every "
                    "registrant."
                )
        return status


def offering_zone(offering: Offering) -> ZoneInfo | None:
    """The offering's zone as typed in its form, or None while it is not a valid zone name (the
    offering form reports that)."""
    try:
        return ZoneInfo(offering.time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def zone_label(zone: ZoneInfo, moment: datetime | None = None) -> str:
    """A zone as admin labels name it, e.g. "America/Denver, MST" (the abbreviation in force at
    ``moment``, default now)."""
    local = (moment or timezone.now()).astimezone(zone)
    return f"{zone.key}, {local.tzname()}"


class SessionInlineForm(forms.ModelForm):
    """One session as staff type it: a date and a start time in the offering's zone; the end
    follows from the course's session length (``Course.session_minutes``). ``clean`` puts the
    aware ``starts_at`` and ``ends_at`` in ``cleaned_data`` and on the instance."""

    day = forms.DateField(label="Date", widget=AdminDateWidget)
    start = forms.TimeField(label="Start time", widget=AdminTimeWidget)

    class Meta:
        model = Session
        fields: list[str] = []

    def __init__(self, *args: object, offering: Offering | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.offering = offering
        # A tabular row has no label beside its inputs: name each for assistive technology.
        row = self.prefix.rsplit("-", 1)[-1] if self.prefix else ""
        number = f"Session {int(row) + 1}" if row.isdigit() else "New session"
        self.fields["day"].widget.attrs["aria-label"] = f"{number}: date"
        self.fields["start"].widget.attrs["aria-label"] = f"{number}: start time"
        zone = offering_zone(offering) if offering is not None else None
        if zone is not None:
            self.fields["start"].label = f"Start time ({zone_label(zone)})"
            if self.instance.pk:
                local = self.instance.starts_at.astimezone(zone)
                self.initial.setdefault("day", local.date())
                self.initial.setdefault("start", local.time())
        course = getattr(offering, "course", None) if offering is not None else None
        if course is not None:
            self.fields[
                "start"
            ].help_text = (
                f"The session ends {course.session_minutes} minutes later (the course's length)."
            )

    def clean(self) -> dict:
        data = super().clean()
        day, start, offering = data.get("day"), data.get("start"), self.offering
        if day is None or start is None or offering is None or not offering.course_id:
            return data
        zone = offering_zone(offering)
        if zone is None:
            return data
        wall = datetime.combine(day, start)
        starts_at = wall.replace(tzinfo=zone)
        if starts_at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
            raise ValidationError(
                f"{start:%H:%M} on {day:%B %-d} does not exist in {zone.key} (the clocks "
                "change that night)."
            )
        ends_at = starts_at + timedelta(minutes=offering.course.session_minutes)
        data["starts_at"], data["ends_at"] = starts_at, ends_at
        self.instance.starts_at, self.instance.ends_at = starts_at, ends_at
        return data


class SessionInlineFormSet(BaseInlineFormSet):
    """Checks the offering's sessions together and derives the offering's ``starts_on``.

    Registration close is derived visibly: left blank, or left as it was while the sessions move
    and it was the derived one (the course's lead time before the old first session), it becomes
    the course's lead time before the new first session, and the offering carries a
    ``closes_note`` that the admin shows after saving. A close staff set by hand is kept, but
    must come before the first session starts.
    """

    def get_form_kwargs(self, index: int | None) -> dict:
        return {**super().get_form_kwargs(index), "offering": self.instance}

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        offering: Offering = self.instance
        if not getattr(offering, "course_id", None):
            return  # The offering form reports the missing course.
        if offering_zone(offering) is None:
            return  # The offering form reports the unknown time zone.
        times = [
            SessionTimes(form.cleaned_data["starts_at"], form.cleaned_data["ends_at"])
            for form in self.forms
            if form.cleaned_data.get("starts_at") and not form.cleaned_data.get("DELETE")
        ]
        offering.starts_on = check_session_times(
            course=offering.course,
            time_zone=offering.time_zone,
            part_of_day=offering.part_of_day,
            times=times,
            offering=offering,
        )
        moved = any(form.has_changed() for form in self.forms)
        if times:
            first = min(t.starts_at for t in times)
            derived = registration_closes_at(offering.course, first)
            closes = offering.registration_closes_at
            follow = closes is None
            if not follow and moved and offering.pk:
                stored = Offering.objects.filter(pk=offering.pk).first()
                old = [s.starts_at for s in Session.objects.filter(offering_id=offering.pk)]
                follow = bool(
                    stored is not None
                    and old
                    and closes == stored.registration_closes_at
                    and closes == registration_closes_at(offering.course, min(old))
                )
            if follow and closes != derived:
                offering.registration_closes_at = derived
                offering.closes_note = (  # type: ignore[attr-defined]
                    f"Registration now closes {instant_label(derived, offering.zone)}, "
                    f"{offering.course.registration_lead_hours} hours before the first session."
                )
            elif not follow and closes is not None and closes > first:
                raise ValidationError(
                    "Registration must close before the first session starts; clear the date "
                    "to close at the course's lead time before it."
                )
        if (
            offering.registration_opens_at
            and offering.registration_closes_at
            and offering.registration_closes_at <= offering.registration_opens_at
        ):
            raise ValidationError("Registration must close after it opens.")


class SessionInline(admin.TabularInline):
    model = Session
    form = SessionInlineForm
    formset = SessionInlineFormSet
    extra = 0
    min_num = 1
    # Move a session by changing its times: the row (and the calendar UID made from it) stays,
    # so attendees' calendars update the entry instead of keeping a stale one.
    can_delete = False
    fields = ["day", "start", "ends"]
    readonly_fields = ["ends"]

    @admin.display(description="Ends (from the course's session length)")
    def ends(self, session: Session) -> str:
        if not session.pk:
            return "—"
        return session_label(session.starts_at, session.ends_at, session.offering.zone)


class UpcomingFilter(admin.SimpleListFilter):
    """The offerings list shows upcoming classes and those that ended within
    ``RECENT_CLASSES`` unless staff ask for the past or all classes."""

    title = "when"
    parameter_name = "when"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [
            ("upcoming", "Upcoming"),
            ("past", "Past"),
            ("all", "All, older classes too"),
        ]

    def choices(self, changelist):  # type: ignore[no-untyped-def]
        """As Django's, with "All" renamed: no choice means upcoming and recent classes."""
        for choice in super().choices(changelist):
            if choice["display"] == "All":
                choice["display"] = "Upcoming and last month's"
            yield choice

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "upcoming":
            return queryset.filter(last_end__gt=now)
        if self.value() == "past":
            return queryset.filter(last_end__lte=now)
        if self.value() == "all":
            return queryset
        return recent_or_upcoming(queryset, now)


# Classes that ended longer ago than this are left out of lists and filters unless asked for.
RECENT_CLASSES = timedelta(days=31)


def upcoming_first(queryset: QuerySet[Offering], now: datetime | None = None) -> QuerySet[Offering]:
    """``queryset`` ordered for pickers and lists: classes not yet over first, soonest first,
    then the ones that are over, latest first."""
    now = now or timezone.now()
    return (
        queryset.annotate(pick_first=Min("sessions__starts_at"), pick_end=Max("sessions__ends_at"))
        .annotate(pick_past=Case(When(pick_end__lte=now, then=Value(True)), default=Value(False)))
        .order_by(*UPCOMING_FIRST_ORDER)
    )


# The order of ``upcoming_first`` (over its annotations), also the offerings list's ordering.
UPCOMING_FIRST_ORDER = [
    F("pick_past").asc(),
    Case(When(pick_past=False, then=F("pick_first"))).asc(nulls_last=True),
    F("pick_first").desc(nulls_last=True),
    F("pk").asc(),
]


def recent_or_upcoming(
    queryset: QuerySet[Offering], now: datetime | None = None
) -> QuerySet[Offering]:
    """``queryset`` without the classes that ended more than ``RECENT_CLASSES`` ago (a class
    without sessions stays)."""
    now = now or timezone.now()
    ended = queryset.model.objects.annotate(end=Max("sessions__ends_at")).filter(
        end__lte=now - RECENT_CLASSES
    )
    return queryset.exclude(pk__in=ended.values("pk"))


# What other apps show in the "Roster" row of an offering's page, each ``panel(offering)``
# returning safe HTML (``format_html``): the registrations app adds its roster summary
# (``registrations.admin.roster``); courses imports none of them.
OFFERING_PANELS: list[Callable[[Offering], str]] = []


def register_offering_panel(panel: Callable[[Offering], str]) -> Callable[[Offering], str]:
    """Show ``panel(offering)`` (safe HTML) in the "Roster" row of every saved offering's admin
    page, once per function. Returns it, so it can be used as a decorator."""
    if panel not in OFFERING_PANELS:
        OFFERING_PANELS.append(panel)
    return panel


# What the offerings list counts per class (seats taken, confirmed, waitlist), added by the app
# that knows registrations (``register_offering_counts``); ``courses`` imports none of it.
OFFERING_COUNTS: list[Callable[[QuerySet[Offering]], QuerySet[Offering]]] = []


def register_offering_counts(
    annotate: Callable[[QuerySet[Offering]], QuerySet[Offering]],
) -> Callable[[QuerySet[Offering]], QuerySet[Offering]]:
    """Apply ``annotate(queryset)`` to the offerings list's query (in the same query), once per
    function; it may add ``seats_taken``, ``confirmed_count`` and ``waitlist_count``, which the
    list shows. Returns it, so it can be used as a decorator."""
    if annotate not in OFFERING_COUNTS:
        OFFERING_COUNTS.append(annotate)
    return annotate


# Actions on the offerings list added by the app that knows registrations (cancel a class,
# confirm it runs, set the meeting link): ``register_offering_action``.
OFFERING_ACTIONS: list[Callable | str] = ["duplicate_to_a_new_date"]


def register_offering_action(action: Callable) -> Callable:
    """Offer ``action(modeladmin, request, queryset)`` (decorated with ``admin.action``, whose
    ``permissions`` Django checks) on the offerings list, once per function. Returns it, so it
    can be used as a decorator."""
    if action not in OFFERING_ACTIONS:
        OFFERING_ACTIONS.append(action)
    return action


# The field the change preview's "Save and send" button adds to the resubmitted form.
CONFIRM_FIELD = "_confirm_update"


class ChangePreview(Exception):  # noqa: N818 -- a control-flow signal, not an error
    """Raised inside the admin's save transaction to roll a change back and show its preview
    (``OfferingAdmin.changeform_view``); ``context`` is what the preview page shows."""

    def __init__(self, context: dict) -> None:
        super().__init__("change preview")
        self.context = context


class DuplicateForm(forms.Form):
    """The first day of the copy (in the class's zone)."""

    first_day = forms.DateField(
        label="First day of the new class",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The sessions keep their Mountain Time hours and their days apart.",
    )


@admin.register(Offering)
class OfferingAdmin(HistoryAdmin):
    # The same list object: actions registered later (``register_offering_action``) are offered.
    actions = OFFERING_ACTIONS

    @admin.action(description="Duplicate to a new date…", permissions=["add"])
    def duplicate_to_a_new_date(self, request: HttpRequest, queryset: QuerySet[Offering]):
        """Copy one class to a new first day (``scheduling.offering_duplicate``): a draft with
        the same hours, capacity and notes, opened for editing."""
        if queryset.count() != 1:
            self.message_user(request, "Select one class to duplicate.", level="error")
            return None
        offering = queryset.get()
        form = DuplicateForm(request.POST if "first_day" in request.POST else None)
        if form.is_valid():
            try:
                copy = offering_duplicate(offering, form.cleaned_data["first_day"])
            except ValidationError as error:
                form.add_error("first_day", error)
            else:
                self.message_user(request, f"Duplicated as a draft: {copy}. Publish it when ready.")
                return HttpResponseRedirect(
                    reverse("admin:courses_offering_change", args=[copy.pk])
                )
        return TemplateResponse(
            request,
            "admin/courses/offering_duplicate.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Duplicate {offering}",
                "offering": offering,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    list_display = [
        "__str__",
        "first_session",
        "part_of_day",
        "seats",
        "confirmed_count",
        "waitlist_count",
        "status",
        "closes",
    ]
    list_filter = ["status", "part_of_day", UpcomingFilter, "course"]
    list_select_related = ["course"]
    date_hierarchy = "starts_on"
    inlines = [SessionInline]
    readonly_fields = [
        "starts_on", "closes_rule", "email_attendees", "roster", "created_at", "updated_at",
    ]  # fmt: skip
    fields = [
        "course",
        "status",
        "part_of_day",
        "capacity",
        "time_zone",
        "starts_on",
        "registration_opens_at",
        "registration_closes_at",
        "closes_rule",
        "minimum_attendees",
        "go_no_go_on",
        "meeting_url",
        "notes",
        "instructors",
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
            "registrations…</a> (saving new times or a new meeting link shows the update "
            "email and how many confirmed attendees get it before anything is sent)",
            url,
            offering.pk,
        )

    @admin.display(description="Roster")
    def roster(self, offering: Offering) -> str:
        """What the registered panels show for a saved offering (``register_offering_panel``:
        the registrations app's roster summary and link)."""
        if not offering.pk or not OFFERING_PANELS:
            return "—"
        return format_html_join("", "{}", ((panel(offering),) for panel in OFFERING_PANELS))

    # A plain multiple select: Django's filter_horizontal widget fails axe (aria-label on a span).

    def get_queryset(self, request: HttpRequest) -> QuerySet[Offering]:
        """Every class for staff who may add classes; for the others (instructors) only the
        classes they are assigned to."""
        queryset = (
            super()
            .get_queryset(request)
            .annotate(first_start=Min("sessions__starts_at"), last_end=Max("sessions__ends_at"))
            .prefetch_related("sessions")
        )
        if not request.user.has_perm(ALL_CLASSES):
            queryset = queryset.filter(instructors=request.user)
        for annotate in OFFERING_COUNTS:
            queryset = annotate(queryset)
        return upcoming_first(queryset)

    @admin.display(description="Seats taken")
    def seats(self, offering: Offering) -> str:
        taken = getattr(offering, "seats_taken", None)
        return f"{offering.capacity}" if taken is None else f"{taken} / {offering.capacity}"

    @admin.display(description="Confirmed")
    def confirmed_count(self, offering: Offering) -> object:
        return getattr(offering, "confirmed_count", "—")

    @admin.display(description="Waitlist")
    def waitlist_count(self, offering: Offering) -> object:
        return getattr(offering, "waitlist_count", "—")

    def get_ordering(self, request: HttpRequest) -> list:
        return UPCOMING_FIRST_ORDER  # over ``upcoming_first``'s annotations (get_queryset)

    def get_readonly_fields(self, request: HttpRequest, obj: Offering | None = None) -> list[str]:
        """An instructor (no permission to add classes) changes only the meeting link and the
        notes of the classes they teach."""
        fields = list(super().get_readonly_fields(request, obj))
        if request.user.has_perm(ALL_CLASSES):
            return fields
        editable = {"meeting_url", "notes"}
        return fields + [
            name for name in self.fields if name not in editable and name not in fields
        ]

    def get_inline_instances(self, request: HttpRequest, obj: Offering | None = None) -> list:
        """No session editing for instructors (their sessions show on the attendance pages)."""
        if not request.user.has_perm(ALL_CLASSES):
            return []
        return super().get_inline_instances(request, obj)

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        """Instructors are chosen among active staff."""
        if db_field.name == "instructors":
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

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
                "the first session; the rule and its date are shown below. Mountain Time "
                f"({zone_label(ZoneInfo(settings.TIME_ZONE))})."
            )
        return form

    def save_model(self, request: HttpRequest, obj: Offering, form, change: bool) -> None:
        if change:
            stored = Offering.objects.prefetch_related("sessions").get(pk=obj.pk)
            request._offering_before = (stored.meeting_url, session_times(stored.session_list))
        super().save_model(request, obj, form, change)

    def tell_closes(self, request: HttpRequest, offering: Offering) -> None:
        """Say when registration closes now, if saving derived it (``SessionInlineFormSet``)."""
        note = getattr(offering, "closes_note", "")
        if note:
            self.message_user(request, note)

    @admin.display(description="Registration close rule")
    def closes_rule(self, offering: Offering) -> str:
        """The derived close beside the stored one, so a derived value is never silent."""
        sessions = offering.session_list if offering.pk else []
        lead = offering.course.registration_lead_hours if offering.course_id else 24
        if not sessions:
            return f"Left blank, registration closes {lead} hours before the first session."
        derived = registration_closes_at(offering.course, sessions[0].starts_at)
        state = (
            "the date above follows this rule"
            if offering.registration_closes_at == derived
            else "the date above was set by hand"
        )
        return (
            f"{lead} hours before the first session: {instant_label(derived, offering.zone)} "
            f"({state}). Moving the sessions moves a close that follows the rule; clear the "
            "date to follow it again."
        )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ):
        """Saving a change of session times or meeting link shows a preview first.

        A POST without ``CONFIRM_FIELD`` is saved inside Django's transaction as usual, but when
        ``save_related`` finds that the times or the link changed and someone would be told, it
        asks for the preview (``courses.signals.offering_change_preview``, which sends nothing)
        and raises ``ChangePreview``: the transaction rolls back, nothing is saved or sent, and
        the preview page shows the old and new times, the update email and how many attendees
        get it, with a button that posts the same form again with ``CONFIRM_FIELD``. That POST
        saves and tells the attendees (``offering_schedule_changed``).
        """
        if request.method == "POST" and object_id and CONFIRM_FIELD not in request.POST:
            request._offering_preview = True
            try:
                return super().changeform_view(request, object_id, form_url, extra_context)
            except ChangePreview as preview:
                return self.render_change_preview(request, object_id, preview.context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_preview(self, request: HttpRequest, object_id: str, context: dict):
        """The preview page of a change (``changeform_view``): nothing is saved yet."""
        offering = self.get_object(request, object_id)
        fields = [
            (name, value)
            for name, values in request.POST.lists()
            if name != CONFIRM_FIELD
            for value in values
        ]
        return TemplateResponse(
            request,
            "admin/courses/offering_change_preview.html",
            {
                **self.admin_site.each_context(request),
                **context,
                "title": "Confirm the change and tell the attendees",
                "opts": self.opts,
                "original": offering,
                "fields": fields,
                "confirm_field": CONFIRM_FIELD,
                "change_url": request.path,
            },
        )

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """After the sessions are saved: a change of times or meeting link raises the schedule
        version and sends confirmed attendees one update stating the old and the new times
        (``offering_schedule_changed``), once staff confirmed it on the preview
        (``changeform_view``)."""
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_offering_before", None)
        if before is None:
            self.tell_closes(request, form.instance)
            return
        offering = form.instance
        # Read afresh: the change view's offering carries the prefetched (old) sessions.
        after = session_times(Session.objects.filter(offering=offering))
        times_changed = after != before[1]
        link_changed = offering.meeting_url != before[0] and bool(offering.meeting_url)
        if not (times_changed or link_changed):
            self.tell_closes(request, offering)
            return
        if getattr(request, "_offering_preview", False):
            previews = [
                answer
                for _, answer in offering_change_preview.send(
                    sender=Offering,
                    offering=Offering.objects.prefetch_related("sessions").get(pk=offering.pk),
                    times_changed=times_changed,
                    link_changed=link_changed,
                    previous_times=before[1],
                )
                if isinstance(answer, dict)
            ]
            count = sum(answer.get("count", 0) for answer in previews)
            if count:
                zone = offering.zone
                raise ChangePreview(
                    {
                        "count": count,
                        "previews": [a for a in previews if a.get("count")],
                        "times_changed": times_changed,
                        "link_changed": link_changed,
                        "old_times": [session_label(s, e, zone) for s, e in before[1]],
                        "new_times": [session_label(s, e, zone) for s, e in after],
                        "old_link": before[0],
                        "new_link": offering.meeting_url,
                        "closes_note": getattr(offering, "closes_note", ""),
                    }
                )
        offering_schedule_changed(
            offering,
            times_changed=times_changed,
            link_changed=link_changed,
            previous_times=before[1],
        )
        self.tell_closes(request, offering)
        self.message_user(
            request,
            "Confirmed attendees (if any) will get one update each with the "
            f"{'old and new times' if times_changed else 'new meeting link'} and a calendar "
            "invitation.",
        )

    @admin.display(description="Registration closes", ordering="registration_closes_at")
    def closes(self, offering: Offering) -> str:
        return instant_label(offering.registration_closes_at, offering.zone)

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
