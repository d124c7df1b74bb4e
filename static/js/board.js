/* The pipeline board (templates/leads/board.html): drag and drop with Sortable, moves by htmx.

   - Dropping a card on another column POSTs the move (with the card's version) to the board's
     move endpoint. The answer is the card as the server now has it, the four column headers
     (out of band) and a message. The card then goes to the column its data-stage names: the new
     one when the move went through, back where it came from when a rule refused it, wherever the
     other person put it after a version conflict, or off the board once it is closed.
   - Dropping on "Lost" or "Disqualified", a backward drop by someone who may move leads back, and
     the card's menu open the move dialog, which asks for the reason or note the move needs.
   - Refusals (400), conflicts (409) and 403s carry a card and a message, so they are swapped in
     like a success; a 404 (the lead is not yours or no longer exists) takes the card away. */
(function () {
  "use strict";

  var FUNNEL = ["lead", "mql", "sql", "opportunity", "won"];
  var EXITS = { lost: ["sql", "opportunity"], disqualified: ["lead", "mql", "sql"] };
  var LABELS = {
    lead: "Lead", mql: "MQL", sql: "SQL", opportunity: "Opportunity", won: "Won", lost: "Lost",
    disqualified: "Disqualified"
  };

  var board, dialog, form, pending = null;

  function flash(text, level) {
    var list = document.querySelector("[data-messages]");
    if (list) list.innerHTML = "";
    window.FunnelCRM.flash(text, level);
  }

  function isBackward(from, to) {
    return FUNNEL.indexOf(to) >= 0 && FUNNEL.indexOf(to) < FUNNEL.indexOf(from);
  }

  function moveUrl(id) {
    var url = board.dataset.moveUrl.replace("/0/", "/" + id + "/");
    return board.dataset.query ? url + "?" + board.dataset.query : url;
  }

  function listFor(stage) {
    return board.querySelector('[data-column-list="' + stage + '"]');
  }

  /* Put a card back where it was picked up. */
  function restore(card, origin) {
    if (!origin || !card) return;
    var ref = origin.list.children[origin.index] || null;
    if (ref === card) return;
    origin.list.insertBefore(card, ref);
  }

  /* After a move's answer: the card (new element, same id) goes to the column of its stage. */
  function place(id, origin) {
    var card = document.getElementById("card-" + id);
    if (!card) return;
    var list = card.hasAttribute("data-gone") ? null : listFor(card.dataset.stage);
    if (!list) {
      card.remove();
      return;
    }
    if (origin && origin.list === list) {
      if (card.parentElement !== list) restore(card, origin);
      return;
    }
    var more = list.querySelector("[data-more]");
    if (card.parentElement !== list || (more && more.compareDocumentPosition(card) &
                                         Node.DOCUMENT_POSITION_FOLLOWING)) {
      list.insertBefore(card, list.firstElementChild);
    }
    card.classList.add("is-moved");
  }

  function postMove(card, toStage, extra, origin) {
    var id = card.dataset.lead;
    card.classList.add("is-saving");
    var values = {
      to_stage: toStage, version: card.dataset.version,
      reason: (extra && extra.reason) || "", note: (extra && extra.note) || ""
    };
    return htmx.ajax("POST", moveUrl(id), {
      source: card, target: card, swap: "outerHTML", values: values
    }).then(function () {
      place(id, origin);
    }, function () {
      var still = document.getElementById("card-" + id);
      if (still) {
        still.classList.remove("is-saving");
        restore(still, origin);
      }
    });
  }

  /* --- the move dialog ----------------------------------------------------------------------- */

  function field(name) { return form.elements[name]; }

  function showError(text) {
    var box = form.querySelector("[data-dialog-error]");
    box.textContent = text || "";
    box.hidden = !text;
  }

  function syncDialog() {
    if (!pending) return;
    var to = field("to_stage").value;
    var from = pending.card.dataset.stage;
    var exit = Object.prototype.hasOwnProperty.call(EXITS, to);
    var back = isBackward(from, to);
    form.querySelector("[data-dialog-reason]").hidden = !exit;
    field("reason").required = exit;
    field("note").required = back;
    var submit = form.querySelector("[data-dialog-submit]");
    submit.textContent = to === "lost" ? "Mark lost" : to === "disqualified" ? "Disqualify" :
      "Move to " + LABELS[to];
    submit.classList.toggle("contrast", exit);
    showError("");
  }

  function openDialog(card, stage, origin) {
    var from = card.dataset.stage;
    pending = { card: card, origin: origin };
    form.reset();
    var select = field("to_stage");
    Array.prototype.forEach.call(select.options, function (option) {
      option.disabled = option.value === from;
    });
    var next = FUNNEL[FUNNEL.indexOf(from) + 1];
    select.value = stage || next;
    var name = card.dataset.name;
    dialog.querySelector("[data-dialog-title]").textContent =
      stage === "lost" ? "Mark " + name + " lost" :
      stage === "disqualified" ? "Disqualify " + name : "Move " + name;
    dialog.querySelector("[data-dialog-lead]").textContent =
      "Now in " + LABELS[from] + ". " + (stage && EXITS[stage] ?
        "Say why; the reason is kept on the lead and in its history." : "");
    syncDialog();
    dialog.showModal();
    (stage && EXITS[stage] ? field("reason") : select).focus();
  }

  function closeDialog(cancelled) {
    var was = pending;
    pending = null;
    if (dialog.open) dialog.close();
    if (cancelled && was) restore(was.card, was.origin);
  }

  function submitDialog(event) {
    event.preventDefault();
    if (!pending) return;
    var to = field("to_stage").value;
    var from = pending.card.dataset.stage;
    var reason = field("reason").value.trim();
    var note = field("note").value.trim();
    if (EXITS[to] && EXITS[to].indexOf(from) < 0) {
      var allowed = EXITS[to].map(function (s) { return LABELS[s]; }).join(" or ");
      showError("A lead can be marked " + to + " only from " + allowed + ", not from " +
                LABELS[from] + ".");
      return;
    }
    if (EXITS[to] && !reason) {
      showError("Reason: say why the lead is " + (to === "lost" ? "lost" : "disqualified") + ".");
      field("reason").focus();
      return;
    }
    if (isBackward(from, to) && board.dataset.canMoveBackward === "true" && !note) {
      showError("Note: moving a lead back to " + LABELS[to] + " needs a note saying why.");
      field("note").focus();
      return;
    }
    var was = pending;
    pending = null;
    dialog.close();
    postMove(was.card, to, { reason: reason, note: note }, was.origin);
  }

  /* --- drag and drop ------------------------------------------------------------------------- */

  function onEnd(event) {
    board.classList.remove("is-dragging");
    if (event.to === event.from) return;
    var card = event.item;
    var from = card.dataset.stage;
    var origin = { list: event.from, index: event.oldIndex };
    var exit = event.to.dataset.exit;
    if (exit) {
      openDialog(card, exit, origin);
      return;
    }
    var to = event.to.dataset.columnList;
    if (isBackward(from, to) && board.dataset.canMoveBackward === "true") {
      openDialog(card, to, origin);
      return;
    }
    postMove(card, to, {}, origin);
  }

  /* Narrow screens: the filters fold away unless some are on. */
  function foldFilters() {
    var box = document.querySelector("[data-filter-box]");
    var narrow = window.matchMedia("(max-width: 767.98px)").matches;
    if (box && narrow && board.dataset.filtered !== "true") box.removeAttribute("open");
  }

  function init() {
    board = document.querySelector("[data-board]");
    dialog = document.querySelector("[data-move-dialog]");
    if (!board || !dialog || typeof Sortable === "undefined") return;
    form = dialog.querySelector("[data-move-form]");
    foldFilters();

    var options = {
      group: "board", sort: false, draggable: "[data-card]", filter: "[data-more], button, a",
      preventOnFilter: false, animation: 150, delay: 180, delayOnTouchOnly: true,
      ghostClass: "is-ghost", chosenClass: "is-chosen",
      onStart: function () { board.classList.add("is-dragging"); },
      onEnd: onEnd
    };
    board.querySelectorAll("[data-column-list]").forEach(function (list) {
      Sortable.create(list, options);
    });
    board.querySelectorAll("[data-exit]").forEach(function (zone) {
      Sortable.create(zone, {
        group: { name: "board", pull: false, put: true }, sort: false, draggable: "[data-card]"
      });
    });

    board.addEventListener("click", function (event) {
      var button = event.target.closest("[data-card-menu]");
      if (button) openDialog(button.closest("[data-card]"), null, null);
    });
    field("to_stage").addEventListener("change", syncDialog);
    ["reason", "note"].forEach(function (name) {
      field(name).addEventListener("input", function () { showError(""); });
    });
    form.addEventListener("submit", submitDialog);
    form.querySelector("[data-dialog-cancel]").addEventListener("click", function () {
      closeDialog(true);
    });
    dialog.addEventListener("close", function () { if (pending) closeDialog(true); });

    /* A move's refusal or conflict carries the card to show and a message: swap it in. */
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var xhr = event.detail.xhr;
      if (!board.contains(event.detail.elt) || xhr.status < 400) return;
      if (xhr.getResponseHeader("X-Board-Move")) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      } else if (xhr.status === 404) {
        event.detail.shouldSwap = false;
        var card = event.detail.elt.closest("[data-card]");
        if (card) card.remove();
        flash("That lead is not yours or no longer exists; it has been taken off the board.",
              "error");
      } else {
        flash("The board could not be updated (" + xhr.status + "). Reload the page.", "error");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
