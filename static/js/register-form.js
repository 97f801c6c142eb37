/*
 * The registration form's help, without a round trip to the server:
 *
 * - After a failed submit, focus moves to the error summary (#error-summary), and each of its
 *   links focuses its field (and brings the field's label into view).
 * - The work email says at once what its domain means, from the server's own lists, written on
 *   the input as data attributes by registrations/forms.py (data-webmail-domains: the webmail
 *   rule of registrations/models/agency.py; data-agency-domains: the listed agency domains). The
 *   rule is the server's (registrations.eligibility.known_agency): a domain or any subdomain of a
 *   listed one. The browser's URL parser writes an international domain in the same IDNA
 *   A-label form the server stores.
 *
 * No dependencies; without JavaScript the page works as before (the server says the same after
 * the work email is confirmed).
 */
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
    Array.prototype.forEach.call(summary.querySelectorAll("a[data-field]"), function (link) {
      link.addEventListener("click", function (event) {
        var field = document.getElementById(link.getAttribute("data-field"));
        if (!field) return;
        event.preventDefault();
        var label = document.querySelector('label[for="' + field.id + '"]');
        (label || field).scrollIntoView({ block: "center", behavior: "instant" });
        field.focus({ preventScroll: true });
      });
    });
  }

  var input = document.querySelector("input[data-check][data-webmail-domains]");
  var output = input && document.getElementById(input.getAttribute("data-check"));
  if (!input || !output) return;

  var words = function (name) {
    return (input.getAttribute(name) || "").split(/\s+/).filter(Boolean);
  };
  var webmail = words("data-webmail-domains");
  var agencies = words("data-agency-domains");

  // The domain as the server stores it (lower-case, IDNA A-labels, no trailing dot), or "".
  var domainOf = function (address) {
    var at = address.lastIndexOf("@");
    if (at < 1) return "";
    var domain = address.slice(at + 1).trim().replace(/\.$/, "");
    if (!/^[^\s@/\\?#:]+\.[^\s@/\\?#:.]{2,}$/.test(domain)) return "";
    try {
      return new URL("http://" + domain + "/").hostname.toLowerCase();
    } catch (e) {
      return "";
    }
  };
  var covers = function (list, domain) {
    return list.some(function (listed) {
      return domain === listed || domain.slice(-(listed.length + 1)) === "." + listed;
    });
  };
  var say = function (kind, text) {
    if (output.textContent === text) return;
    output.setAttribute("data-kind", kind);
    output.textContent = text;
  };

  var check = function () {
    var domain = domainOf(input.value);
    if (!domain) {
      say("", "");
      return;
    }
    if (covers(webmail, domain)) {
      say("review", domain + " is a personal webmail address, so it cannot show where you " +
        "work: our staff will check your employment by hand, which takes up to two working " +
        "days. An address at your agency is confirmed at once.");
    } else if (covers(agencies, domain)) {
      say("known", domain + " is a known agency domain: you are confirmed as soon as you open " +
        "the link we send there.");
    } else {
      say("review", domain + " is not an agency domain we know yet: our staff will check your " +
        "employment, which takes up to two working days, or your supervisor confirms it sooner " +
        "when their address is at a known agency.");
    }
  };

  var described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  if (described.indexOf(output.id) < 0) {
    described.push(output.id);
    input.setAttribute("aria-describedby", described.join(" "));
  }
  input.addEventListener("input", check);
  input.addEventListener("change", check);
  check();
})();
