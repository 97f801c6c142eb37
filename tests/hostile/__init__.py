"""Hostile text, everywhere (issue 13): property-based tests that put what people paste and what
attackers type (CR, LF, tabs and other controls, bidi and zero-width marks, emoji, combining
marks, leading ``=`` ``+`` ``-`` ``@``, maximum lengths, HTML and template syntax) into every
field staff or attendees type, and run every renderer that shows it: public pages, every email
(headers and both bodies), every calendar file, every export, Stripe's parameters, the admin.

The suite is a registry (``registry.py``):

* ``FIELDS``: one ``Field(model, name, single_line, max_length, inputs)`` per typed field. A
  single-line field must be refused at every form in ``inputs`` when it holds a control or
  invisible character, with a message naming it (``test_fields``).
* ``RENDERERS``: one ``Renderer(name, models, render, check)`` per surface. Each example fills
  every registered field of every row of ``models`` at once (as an older row or an import may
  hold them: no form on the way), calls ``render(world)`` and ``check(world, output)``, which
  parses the output back (``checks.py``) and fails on an injected element, header, content line
  or formula cell, or a value past a provider's limit (``test_renderers``).
* ``EMAIL_SENDERS``: how to queue each registered kind of email; ``test_registry`` fails when a
  kind is registered with the outbox and has no sender here.

A later surface (an export, a PDF, an invoice, an evaluation form) joins by appending one
``Renderer`` to ``RENDERERS``, with the check of its format (add one to ``checks.py`` if the
format is new); a new typed field by appending one ``Field``; a new email kind by one
``EMAIL_SENDERS`` entry.

The tests are marked ``hostile`` and run in the normal ``make test`` (and so in CI) under the
``hostile`` Hypothesis profile (``conftest.py``): derandomised, no deadline, a bounded number of
examples (``CITREG_HOSTILE_EXAMPLES``).
"""
