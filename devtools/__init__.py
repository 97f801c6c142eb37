"""Local stand-ins and helpers for the default run and the tests.

Never imported by production code.
"""
