/*
 * The course page's "Show: All classes / Day classes / Evening classes" filter. The list is
 * complete without JavaScript (the filter stays hidden); with it, a button hides the classes of
 * the other part of day and the months left empty, and a status line says how many are shown.
 * A "Next open … class" link also focuses its class card, so a keyboard or screen reader user
 * lands on it. Markup: see templates/courses/course_detail.html. No dependencies.
 */
(function () {
  "use strict";
  var filter = document.querySelector(".class-filter[data-filter-target]");
  var list = filter && document.getElementById(filter.getAttribute("data-filter-target"));
  if (filter && list) {
    var buttons = filter.querySelectorAll("button[data-part]");
    var status = filter.querySelector("[data-filter-status]");
    var show = function (part) {
      var shown = 0;
      Array.prototype.forEach.call(list.querySelectorAll(".offering[data-part]"), function (card) {
        var match = !part || card.getAttribute("data-part") === part;
        card.hidden = !match;
        if (match) shown += 1;
      });
      Array.prototype.forEach.call(list.querySelectorAll(".month"), function (month) {
        month.hidden = !month.querySelector(".offering:not([hidden])");
      });
      Array.prototype.forEach.call(buttons, function (button) {
        button.setAttribute("aria-pressed", String(button.getAttribute("data-part") === part));
      });
      if (status) status.textContent = shown + (shown === 1 ? " class" : " classes") + " shown.";
    };
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function () { show(button.getAttribute("data-part")); });
    });
    filter.hidden = false;
  }
  Array.prototype.forEach.call(document.querySelectorAll("a.next-open-link"), function (link) {
    link.addEventListener("click", function (event) {
      var card = document.getElementById(link.getAttribute("href").slice(1));
      if (!card) return;
      if (card.hidden && filter && list) {
        var all = filter.querySelector('button[data-part=""]');
        if (all) all.click();
      }
      event.preventDefault();
      // "instant": Bootstrap makes scrolling smooth, and the card should be in view at once.
      card.scrollIntoView({ block: "start", behavior: "instant" });
      card.focus({ preventScroll: true });
      if (history.replaceState) history.replaceState(null, "", link.getAttribute("href"));
    });
  });
})();
