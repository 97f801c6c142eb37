from django.apps import AppConfig


class RegistrationsConfig(AppConfig):
    name = "registrations"
    verbose_name = "Registrations"

    def ready(self) -> None:
        from courses.signals import offering_changed

        from . import notices

        offering_changed.connect(notices.on_offering_changed, dispatch_uid="registrations-update")
