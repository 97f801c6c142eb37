"""Changes to a confirmed place: moving it to another class of the same course (``transfers``).

Sits at the level of ``registrations.attendance``, above ``payments`` (``docs/architecture.md``,
"Layers" and "Flows")."""
