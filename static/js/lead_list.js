/* The lead list (templates/leads/list.html). A filter dropdown of checkboxes (<details
   class="dropdown">) behaves like a <select>: its summary names what is ticked, and it closes on a
   click outside it or on Escape. htmx refreshes the results, not the form, so the summary is kept
   up to date here. */
(function () {
  "use strict";

  function openDropdowns() {
    return document.querySelectorAll("form.lead-filters details.dropdown[open]");
  }

  document.addEventListener("click", function (event) {
    openDropdowns().forEach(function (details) {
      if (!details.contains(event.target)) details.removeAttribute("open");
    });
  });

  document.addEventListener("change", function (event) {
    var details = event.target.closest("form.lead-filters details.dropdown");
    if (!details) return;
    var summary = details.querySelector("summary");
    var any = summary.querySelector(".choice-any");
    summary.querySelectorAll(".choice-picked").forEach(function (span) { span.remove(); });
    details.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
      var span = document.createElement("span");
      span.className = "choice-picked";
      span.textContent = box.parentElement.textContent.trim();
      summary.insertBefore(span, any);
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openDropdowns().forEach(function (details) {
      details.removeAttribute("open");
      details.querySelector("summary").focus();
    });
  });
})();
