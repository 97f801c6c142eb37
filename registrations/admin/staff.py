"""Admin: staff accounts with their audit history (group membership included,
``registrations.models.staff``), and the records of staff reading personal data that needs its
own permission (``StaffAccess``), read-only."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.http import HttpRequest

from courses.admin import HistoryAdmin
from registrations.models import StaffAccess

from .guards import ReadOnlyAdmin

if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(HistoryAdmin, UserAdmin):
    """Django's user admin, plus the "History" page: who changed an account or its groups,
    and when."""

    def history_hidden_fields(self, request: HttpRequest) -> set[str]:
        return {"password", "last_login"}


@admin.register(StaffAccess)
class StaffAccessAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Who saw accessibility needs or exported a roster, when, and which records. Written by
    the admin pages that show or export them; nobody edits or deletes a record here."""

    list_display = ["at", "username", "action", "model", "object_ids", "detail"]
    list_filter = ["action", "at"]
    search_fields = ["username"]
    date_hierarchy = "at"
    fields = ["at", "user", "username", "action", "model", "object_ids", "detail"]
    readonly_fields = fields
