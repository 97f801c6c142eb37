"""The models of the registrations app, split by domain.

The payment models live in ``registrations.payments.models`` and the outbox's in
``registrations.messaging.models``; ``RegistrationsConfig.import_models`` loads them with these,
so the app keeps one label (``registrations``) and its table names.
"""

from .access import StaffAccess
from .agency import AgencyDomain
from .broadcast import Broadcast
from .policy import PolicyPage
from .registration import Registration, RegistrationEvent, RegistrationUnderReview
from .staff import User

__all__ = [
    "AgencyDomain",
    "Broadcast",
    "PolicyPage",
    "Registration",
    "RegistrationEvent",
    "RegistrationUnderReview",
    "StaffAccess",
    "User",
]
