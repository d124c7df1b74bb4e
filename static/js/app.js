/* FunnelCRM glue, loaded on every page (defer). htmx sends the CSRF token from <body hx-headers>.
   - the Menu button opens and closes the nav on narrow screens;
   - FunnelCRM.flash(text, level) shows a message in the page's messages area
     (level: success, info, warning, error), e.g. from an htmx:responseError handler;
   - a request htmx could not send (network down) says so instead of failing silently. */
(function () {
  "use strict";

  function flash(text, level) {
    var list = document.querySelector("[data-messages]");
    if (!list) return;
    var item = document.createElement("li");
    item.className = "message message-" + (level || "info");
    item.setAttribute("role", level === "error" ? "alert" : "status");
    item.textContent = text;
    list.appendChild(item);
  }
  window.FunnelCRM = { flash: flash };

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector("[data-nav-toggle]");
    var menu = document.getElementById("app-menu");
    if (toggle && menu) {
      toggle.addEventListener("click", function () {
        var open = menu.classList.toggle("is-open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
  });

  document.addEventListener("htmx:sendError", function () {
    flash("The server could not be reached. Check your connection and try again.", "error");
  });
})();
