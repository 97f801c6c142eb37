"""The course catalogue: courses, their dated offerings and sessions, schedule import, calendars."""
