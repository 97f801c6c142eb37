/*
 * "Waiting for your payment to be confirmed": check again every few seconds by reloading the
 * page (the server shows the state from its database), for at most ten minutes; then say how to
 * check by hand. Without JavaScript a <noscript> refresh does the same. No dependencies.
 */
(function () {
  "use strict";
  var INTERVAL_MS = 3000;
  var LIMIT_MS = 10 * 60 * 1000;
  var key = "citreg-payment-wait:" + location.pathname;
  var started = Number(sessionStorage.getItem(key)) || Date.now();
  // A mark left by an earlier wait (the page then showed the outcome): start afresh.
  if (Date.now() - started > 3 * LIMIT_MS) started = Date.now();
  sessionStorage.setItem(key, String(started));
  if (Date.now() - started > LIMIT_MS) {
    sessionStorage.removeItem(key);
    var status = document.querySelector("[role=status]");
    if (status) status.textContent = "This is taking longer than usual. Reload this page in a " +
      "few minutes, or open your registration page; we also email you when it completes.";
    return;
  }
  setTimeout(function () { location.reload(); }, INTERVAL_MS);
})();
