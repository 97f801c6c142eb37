"""Registrations: attendees, eligibility, seat holds, payments, emails, attendance, certificates."""
