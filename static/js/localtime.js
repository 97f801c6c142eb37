/*
 * The visitor's own time beside each published Mountain Time, written by the same rules as
 * courses/timefmt.py (English 12-hour clock, weekday and month names, zone abbreviation or GMT
 * offset), whatever the browser's language. Checked against tests/fixtures/time_vectors.json.
 *
 * Markup written by courses/templatetags/schedule.py (the HTML is the same for every visitor):
 *   <span class="session-time" data-start="ISO-UTC" data-end="ISO-UTC" data-zone="America/Denver">
 *   <span class="moment-time" data-instant="ISO-UTC" data-zone="America/Denver">
 *   <p class="local-hours-note" data-starts="ISO-UTC ISO-UTC" data-zone="America/Denver" hidden>
 * The first two get " (your time: …)" in a <span class="local-time" data-zone="viewer zone">;
 * the note is filled and shown when the sessions start at different hours for the visitor only.
 * No dependencies; without JavaScript the Mountain Time text stands alone. Under Node the rules
 * are exported (module.exports) for the shared test vectors.
 */
(function (root) {
  "use strict";
  var EN_DASH = "\u2013";
  var WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  // Letter abbreviations by UTC offset in minutes (courses.timefmt.ABBREVIATIONS).
  var ABBREVIATIONS = {
    "-180": ["ADT"], "-240": ["AST", "EDT"], "-300": ["EST", "CDT"], "-360": ["CST", "MDT"],
    "-420": ["MST", "PDT"], "-480": ["PST", "AKDT"], "-540": ["AKST", "HDT"], "-600": ["HST"]
  };
  var LOCAL_HOURS_NOTE = "In your time zone the sessions do not all start at the same hour " +
    "(a daylight saving time change falls between them): ";
  var formatters = {};

  function formatter(zone) {
    if (!formatters[zone]) {
      formatters[zone] = new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
        hour: "numeric", minute: "numeric", second: "numeric", timeZoneName: "short"
      });
    }
    return formatters[zone];
  }

  /* The wall clock of `date` in `zone`: {year, month, day, hour, minute, weekday, offset, name}. */
  function wallClock(date, zone) {
    var parts = {};
    formatter(zone).formatToParts(date).forEach(function (part) { parts[part.type] = part.value; });
    var wall = {
      year: +parts.year, month: +parts.month, day: +parts.day,
      hour: +parts.hour % 24, minute: +parts.minute, second: +parts.second,
      name: parts.timeZoneName || ""
    };
    var asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
    var instant = Math.floor(date.getTime() / 1000) * 1000;
    wall.offset = Math.round((asUtc - instant) / 60000);
    wall.weekday = new Date(Date.UTC(wall.year, wall.month - 1, wall.day)).getUTCDay();
    return wall;
  }

  function clock(wall) {
    var hour = wall.hour % 12 || 12;
    return hour + ":" + (wall.minute < 10 ? "0" : "") + wall.minute + " " +
      (wall.hour < 12 ? "am" : "pm");
  }

  function gmtOffsetLabel(minutes) {
    if (minutes === 0) return "GMT";
    var abs = Math.abs(minutes), rest = abs % 60;
    return "GMT" + (minutes > 0 ? "+" : "-") + Math.floor(abs / 60) +
      (rest ? ":" + (rest < 10 ? "0" : "") + rest : "");
  }

  function abbreviation(wall) {
    var names = ABBREVIATIONS[String(wall.offset)] || [];
    return names.indexOf(wall.name) >= 0 ? wall.name : gmtOffsetLabel(wall.offset);
  }

  function sameDate(a, b) {
    return a.year === b.year && a.month === b.month && a.day === b.day;
  }

  function readsTheSame(mine, theirs) {
    return sameDate(mine, theirs) && clock(mine) === clock(theirs) &&
      abbreviation(mine) === abbreviation(theirs);
  }

  function viewerDay(mine, published) {
    var text = WEEKDAYS[mine.weekday] + ", " + MONTHS[mine.month - 1] + " " + mine.day;
    return mine.year === published.year ? text : text + ", " + mine.year;
  }

  /* courses.timefmt.local_instant_label */
  function localInstantLabel(moment, publishedZone, viewerZone) {
    var published = wallClock(moment, publishedZone), mine = wallClock(moment, viewerZone);
    if (readsTheSame(mine, published)) return "";
    return viewerDay(mine, published) + ", " + clock(mine) + " " + abbreviation(mine);
  }

  /* courses.timefmt.local_range_label */
  function localRangeLabel(startsAt, endsAt, publishedZone, viewerZone) {
    var publishedStart = wallClock(startsAt, publishedZone);
    var publishedEnd = wallClock(endsAt, publishedZone);
    var start = wallClock(startsAt, viewerZone), end = wallClock(endsAt, viewerZone);
    if (readsTheSame(start, publishedStart) && readsTheSame(end, publishedEnd)) return "";
    var startAbbr = abbreviation(start), endAbbr = abbreviation(end);
    var startClock = startAbbr === endAbbr ? clock(start) : clock(start) + " " + startAbbr;
    if (sameDate(start, end)) {
      var day = sameDate(start, publishedStart) ? "" : viewerDay(start, publishedStart) + ", ";
      return day + startClock + " " + EN_DASH + " " + clock(end) + " " + endAbbr;
    }
    return viewerDay(start, publishedStart) + ", " + startClock + " " + EN_DASH + " " +
      viewerDay(end, publishedStart) + ", " + clock(end) + " " + endAbbr;
  }

  /* courses.timefmt.start_hours_note */
  function startHoursNote(starts, publishedZone, viewerZone) {
    var pairs = starts.map(function (s) {
      return [wallClock(s, viewerZone), wallClock(s, publishedZone)];
    });
    var gaps = {}, clocks = {}, abbreviations = [], gapCount = 0, clockCount = 0;
    pairs.forEach(function (pair) {
      var gap = pair[0].offset - pair[1].offset, text = clock(pair[0]);
      if (!(gap in gaps)) { gaps[gap] = true; gapCount += 1; }
      if (!(text in clocks)) { clocks[text] = true; clockCount += 1; }
      abbreviations.push(abbreviation(pair[0]));
    });
    if (gapCount < 2 || clockCount < 2) return "";
    var oneAbbreviation = abbreviations.every(function (a) { return a === abbreviations[0]; });
    var items = pairs.map(function (pair, index) {
      return viewerDay(pair[0], pair[1]) + ", " + clock(pair[0]) +
        (oneAbbreviation ? "" : " " + abbreviations[index]);
    });
    return LOCAL_HOURS_NOTE + items.join("; ") + (oneAbbreviation ? " " + abbreviations[0] : "") +
      ".";
  }

  var api = {
    localInstantLabel: localInstantLabel,
    localRangeLabel: localRangeLabel,
    startHoursNote: startHoursNote,
    abbreviationAt: function (moment, zone) { return abbreviation(wallClock(moment, zone)); }
  };

  function parse(value) {
    var date = new Date(value);
    return isNaN(date.getTime()) ? null : date;
  }

  function addBeside(node, viewerZone, text) {
    if (!text) return;
    var local = document.createElement("span");
    local.className = "local-time";
    local.setAttribute("data-zone", viewerZone);
    local.textContent = "(your time: " + text + ")";
    node.appendChild(document.createTextNode(" "));
    node.appendChild(local);
  }

  function augment(doc, viewerZone) {
    var each = function (selector, action) {
      Array.prototype.forEach.call(doc.querySelectorAll(selector), function (node) {
        var zone = node.getAttribute("data-zone");
        if (!zone || zone === viewerZone || node.getAttribute("data-local-done")) return;
        node.setAttribute("data-local-done", "1");
        try { action(node, zone); } catch (e) { /* an unknown zone: MT stands alone */ }
      });
    };
    each(".session-time[data-start][data-end]", function (node, zone) {
      var start = parse(node.getAttribute("data-start")), end = parse(node.getAttribute("data-end"));
      if (start && end) addBeside(node, viewerZone, localRangeLabel(start, end, zone, viewerZone));
    });
    each(".moment-time[data-instant]", function (node, zone) {
      var moment = parse(node.getAttribute("data-instant"));
      if (moment) addBeside(node, viewerZone, localInstantLabel(moment, zone, viewerZone));
    });
    each(".local-hours-note[data-starts]", function (node, zone) {
      var starts = node.getAttribute("data-starts").split(/\s+/).filter(Boolean).map(parse);
      if (starts.some(function (s) { return !s; })) return;
      var note = startHoursNote(starts, zone, viewerZone);
      if (!note) return;
      node.textContent = note;
      node.setAttribute("data-zone-viewer", viewerZone);
      node.hidden = false;
    });
  }

  if (typeof module === "object" && module.exports) {
    module.exports = api;
    return;
  }
  var viewerZone;
  try {
    viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!viewerZone || !root.document) return;
  augment(root.document, viewerZone);
})(this);
