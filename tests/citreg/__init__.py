"""Tests of the project package ``citreg``: settings, entry points, staff sign-in."""
