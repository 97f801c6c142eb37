/* Fill the registration form's hidden time_zone field with the browser's IANA zone, so emails
 * can show class times in the attendee's own zone. No dependencies. */
(function () {
  "use strict";
  var field = document.getElementById("id_time_zone");
  if (!field || field.value) return;
  try {
    field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) { /* leave blank */ }
})();
