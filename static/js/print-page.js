// A "Print" button on the sign-in sheet (templates/admin/registrations/sign_in_sheet.html):
// no inline script, so the page keeps the site's Content-Security-Policy.
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
