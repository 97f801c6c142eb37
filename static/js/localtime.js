/*
 * Show each class time in the visitor's own time zone beside the published Mountain Time.
 * Markup: <span class="session-time" data-start="ISO-UTC" data-end="ISO-UTC">MT text</span>.
 * No dependencies; without JavaScript the Mountain Time text stands alone.
 */
(function () {
  "use strict";
  var PUBLISHED_ZONE = "America/Denver";

  function format(date, zone, options) {
    var all = { timeZone: zone, hour: "numeric", minute: "2-digit" };
    for (var key in options) all[key] = options[key];
    return new Intl.DateTimeFormat(undefined, all).format(date);
  }

  var viewerZone;
  try {
    viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!viewerZone) return;

  var nodes = document.querySelectorAll(".session-time[data-start][data-end]");
  Array.prototype.forEach.call(nodes, function (node) {
    var start = new Date(node.getAttribute("data-start"));
    var end = new Date(node.getAttribute("data-end"));
    if (isNaN(start.getTime()) || isNaN(end.getTime())) return;
    var withZone = { timeZoneName: "short" };
    // Same wall-clock time and zone name as Mountain Time: nothing to add.
    if (format(start, viewerZone, withZone) === format(start, PUBLISHED_ZONE, withZone)) return;
    var sameDay = format(start, viewerZone, { hour: undefined, minute: undefined, day: "numeric" }) ===
      format(start, PUBLISHED_ZONE, { hour: undefined, minute: undefined, day: "numeric" });
    var startText = sameDay ? format(start, viewerZone, {})
      : format(start, viewerZone, { weekday: "short", month: "short", day: "numeric" });
    var local = document.createElement("span");
    local.className = "local-time";
    local.setAttribute("data-zone", viewerZone);
    local.textContent = "(your time: " + startText + " \u2013 " + format(end, viewerZone, withZone) + ")";
    node.appendChild(document.createTextNode(" "));
    node.appendChild(local);
  });
})();
