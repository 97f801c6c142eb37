"""Public pages: one module per page family, one handler per page or button.

Views validate input and call one service function each; they hold no rules. Links in emails
never change anything on GET, because mail scanners follow links.
"""
