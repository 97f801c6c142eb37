from importlib import import_module

from django.apps import AppConfig

# Model modules of this app outside ``registrations.models`` (one app label, one set of tables).
MODEL_MODULES = (
    "registrations.payments.models",
    "registrations.messaging.models",
    "registrations.attendance.models",
    "registrations.certificates.models",
    "registrations.changes.models",
)
# Modules that register outbox kinds, catalogue annotations and signal receivers when imported.
REGISTERING_MODULES = (
    "registrations.messaging.notices",
    "registrations.messaging.reminders",
    "registrations.messaging.broadcasts",
    "registrations.seats.queries",
    "registrations.seats.booking",  # offers seats freed by a class's change (post_save)
    "registrations.changes.transfers",  # the "transferred" email
    "registrations.changes.substitutions",  # the colleague's invitation and the notices
    "registrations.changes.class_cancellation",  # the "class_cancelled" email
    "registrations.changes.enrolment",  # the staff's go/no-go prompt
    "registrations.roles",  # the staff groups, kept in step with the table by post_migrate
)


class RegistrationsConfig(AppConfig):
    """The registrations app: ``models``, plus the models of its ``payments``, ``messaging``,
    ``attendance`` and ``certificates`` packages, under the one label ``registrations``."""

    name = "registrations"
    verbose_name = "Registrations"

    def import_models(self) -> None:
        """Load ``registrations.models`` and the packages' model modules (Django calls this
        while it loads every app's models, before any ``ready``)."""
        super().import_models()
        for module in MODEL_MODULES:
            import_module(module)

    def ready(self) -> None:
        """Import the modules that register themselves: the kinds of message (so the outbox and
        its admin know them in every process), the catalogue's seat count, the receiver of
        ``courses.signals.offering_changed`` and the staff groups' ``post_migrate`` receiver."""
        for module in REGISTERING_MODULES:
            import_module(module)
