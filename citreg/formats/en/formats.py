"""English date formats for citreg's pages and the admin: Django's, with the zone's abbreviation
after every date and time (``T``: MST or MDT in the admin's America/Denver), so a time shown
without a class never leaves its zone to guess (docs/architecture.md, "How times are written")."""

DATETIME_FORMAT = "N j, Y, P T"
SHORT_DATETIME_FORMAT = "m/d/Y P T"
