"""The hosted checkout page the stand-in serves at each session's ``url``.

Plain HTML with inline styles, no scripts and no external assets; every button is a form POST,
so a test drives it with an HTTP client and a person with any browser or keyboard. It mimics
Stripe Checkout's outcomes (https://docs.stripe.com/payments/checkout/how-checkout-works), not
its look.
"""

from html import escape
from typing import Any

from .state import format_amount

Obj = dict[str, Any]

ACTIONS = ("pay", "delayed", "decline", "cancel")

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1a1a1a}
main{max-width:34rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;
box-shadow:0 1px 3px #0003}
.badge{display:inline-block;background:#ffde92;color:#5b3b00;padding:0 .5rem;border-radius:4px;
font-size:.875rem;font-weight:600}
table{width:100%;border-collapse:collapse;margin:1rem 0}
th,td{text-align:left;padding:.4rem 0;border-bottom:1px solid #ddd}
td.num,th.num{text-align:right}
.error{background:#fde8e8;color:#8a1c1c;border:1px solid #8a1c1c;padding:.5rem 1rem;
border-radius:4px}
fieldset{border:1px solid #ccc;border-radius:4px;margin:1rem 0}
label{display:block;margin:.25rem 0}
input[type=email]{width:100%;padding:.4rem;font:inherit;box-sizing:border-box}
.buttons{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:1rem}
button{font:inherit;padding:.5rem 1rem;border-radius:4px;border:1px solid #444;background:#fff;
cursor:pointer}
button.primary{background:#0a5cd6;color:#fff;border-color:#0a5cd6}
button:focus-visible{outline:3px solid #ff9d00;outline-offset:2px}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);
white-space:nowrap}
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def checkout_page(session: Obj, items: list[Obj], error: str | None = None, email: str = "") -> str:
    """The payment form of an ``open`` session.

    Args:
        session: the Checkout Session.
        items: its line items (amounts in cents).
        error: a message shown in an alert above the buttons ("Your card was declined."), or
            None.
        email: the email the customer already typed, kept after an error.

    Returns:
        The HTML document.
    """
    currency = session["currency"]
    rows = "\n".join(
        "<tr>"
        f"<td>{escape(item['description'])}</td>"
        f'<td class="num">{item["quantity"]}</td>'
        f'<td class="num">{escape(format_amount(item["amount_total"], currency))}</td>'
        "</tr>"
        for item in items
    )
    total = escape(format_amount(session["amount_total"], currency))
    alert = f'<p class="error" role="alert" id="error">{escape(error)}</p>' if error else ""
    if session["customer_email"]:
        email_field = f"<p>Email: {escape(session['customer_email'])}</p>"
    else:
        described = ' aria-describedby="error"' if error else ""
        email_field = (
            '<label for="email">Email</label>'
            f'<input type="email" id="email" name="email" autocomplete="email" required '
            f'value="{escape(email)}"{described}>'
        )
    body = f"""<p><span class="badge">Test mode</span> Stripe stand-in</p>
<h1>Pay {total}</h1>
<table>
<caption class="visually-hidden">Order summary</caption>
<thead><tr><th scope="col">Item</th><th scope="col" class="num">Qty</th>
<th scope="col" class="num">Amount</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th><td class="num">{total}</td></tr></tfoot>
</table>
{alert}
<form method="post" action="/c/pay/{escape(session["id"])}">
{email_field}
<fieldset>
<legend>Outcome of a delayed payment method (bank debit)</legend>
<label><input type="radio" name="delayed_outcome" value="succeeded" checked>
Succeeds a few seconds later</label>
<label><input type="radio" name="delayed_outcome" value="failed"> Fails a few seconds later</label>
</fieldset>
<div class="buttons">
<button type="submit" name="action" value="pay" class="primary">Pay (succeeds)</button>
<button type="submit" name="action" value="delayed">Pay with a delayed method</button>
<button type="submit" name="action" value="decline" formnovalidate>Card declined</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</div>
</form>"""
    return _document(f"Pay {format_amount(session['amount_total'], currency)} – checkout", body)


def unavailable_page(session: Obj) -> str:
    """The page for a session that is no longer ``open`` (paid or expired), as Stripe shows
    "This Checkout Session is no longer active"."""
    done = "has been paid" if session["status"] == "complete" else "has expired"
    body = (
        '<p><span class="badge">Test mode</span> Stripe stand-in</p>\n'
        "<h1>This checkout is no longer available</h1>\n"
        f"<p>This Checkout Session {done}.</p>"
    )
    return _document("Checkout no longer available", body)


def not_found_page() -> str:
    """The page for an unknown session id."""
    body = "<h1>Checkout not found</h1>\n<p>No Checkout Session has this address.</p>"
    return _document("Checkout not found", body)
