"""Decoding of Stripe's form-encoded request parameters into nested dicts and lists.

Stripe's v1 API takes ``application/x-www-form-urlencoded`` bodies (and query strings for GET)
whose keys carry the nesting: ``metadata[order]=7``, ``line_items[0][quantity]=1``,
``expand[]=payment_intent``. The official ``stripe`` library writes them that way
(``stripe/_encode.py``); Stripe documents the encoding at https://docs.stripe.com/api (section
"Request encoding").
"""

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """A parameter name that cannot be decoded (e.g. ``a[b`` or one key used both as a value
    and as a container). ``param`` is the offending key as sent."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


def decode_form(body: str) -> dict[str, Any]:
    """Decode a form-encoded body or query string into nested parameters.

    Args:
        body: the raw ``a=1&b[c]=2`` text (already decoded from bytes as UTF-8).

    Returns:
        A dict whose values are strings, dicts (``a[b]``) or lists (``a[0]``, ``a[]``). Numeric
        indices become list positions in index order (gaps are closed up, as Stripe does not
        require contiguous indices). Values stay strings: the endpoints check types themselves,
        as Stripe does ("Invalid integer: abc").

    Raises:
        FormError: for a malformed key or a key that is both a scalar and a container.
    """
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if not match:
            raise FormError(f"Invalid parameter name: {raw_key}", raw_key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        _insert(root, path, value, raw_key)
    return _listify(root)


def _insert(node: dict[str, Any], path: list[str], value: str, raw_key: str) -> None:
    """Put ``value`` at ``path`` below ``node``; ``[]`` parts append (kept as ``\\0<n>`` keys)."""
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if part == "":
            part = f"\0{len(node)}"  # "a[]": the next free position
        if last:
            if isinstance(node.get(part), dict):
                raise FormError(f"Invalid parameter: {raw_key} is also used as a hash", raw_key)
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise FormError(f"Invalid parameter: {raw_key} is also used as a value", raw_key)
        node = child


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all indices (``"0"``, ``"1"``, ``"\\0n"``) into lists."""
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(_index(key) is not None for key in converted):
        return [converted[key] for key in sorted(converted, key=_index)]
    return converted


def _index(key: str) -> int | None:
    """The list position a key stands for, or None for an ordinary hash key."""
    digits = key[1:] if key.startswith("\0") else key
    return int(digits) if digits.isdigit() else None
