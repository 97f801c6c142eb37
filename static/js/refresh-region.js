/*
 * A page whose figures change while background work runs (an admin progress page): the element
 * marked data-refresh-seconds="N" is fetched again every N seconds and replaced in place (it is
 * an aria-live region, so screen readers hear the new figures without losing their place). It
 * stops when the fresh copy no longer asks to be refreshed (the work finished) or after an hour.
 * No reload, no meta refresh. No dependencies.
 */
(function () {
  "use strict";
  var LIMIT_MS = 60 * 60 * 1000;
  var started = Date.now();
  function region(doc) { return doc.querySelector("[data-refresh-seconds]"); }
  function schedule(current) {
    var seconds = Number(current.getAttribute("data-refresh-seconds")) || 0;
    if (seconds <= 0 || Date.now() - started > LIMIT_MS) return;
    setTimeout(function () {
      fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var replacement = fresh.getElementById(current.id);
          if (!replacement) return;
          current.innerHTML = replacement.innerHTML;
          var next = replacement.getAttribute("data-refresh-seconds");
          if (next) current.setAttribute("data-refresh-seconds", next);
          else current.removeAttribute("data-refresh-seconds");
          schedule(current);
        })
        .catch(function () { schedule(current); });
    }, seconds * 1000);
  }
  var current = region(document);
  if (current && current.id) schedule(current);
})();
