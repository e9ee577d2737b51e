/* Counter keyboard habits: "/" jumps to the search box; arrow keys walk the results; Enter opens one;
   Alt+letter opens a screen of the header (its access key). */
(function () {
  "use strict";

  function typingIn(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function resultLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("#results a.result"));
  }

  document.addEventListener("keydown", function (event) {
    // Alt+letter opens the screen with that access key, the same in every browser (some want Alt+Shift).
    if (event.altKey && !event.ctrlKey && !event.metaKey && /^[a-z]$/i.test(event.key)) {
      var target = document.querySelector('a[accesskey="' + event.key.toLowerCase() + '"]');
      if (target) {
        event.preventDefault();
        target.click();
        return;
      }
    }
    var search = document.getElementById("q") || document.getElementById("topq");
    // In the search box itself "/" is the shortcut again (select what is there) when the box is empty or all
    // of it is selected; otherwise it is typed (an address such as "3/2").
    var again = search && event.target === search &&
      (search.value === "" || (search.selectionStart === 0 && search.selectionEnd === search.value.length));
    if (event.key === "/" && (again || !typingIn(event.target)) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") {
      return;
    }
    var links = resultLinks();
    if (!links.length) {
      return;
    }
    var index = links.indexOf(document.activeElement);
    if (event.target === search && event.key === "ArrowDown") {
      event.preventDefault();
      links[0].focus();
    } else if (index >= 0) {
      event.preventDefault();
      if (event.key === "ArrowDown" && index < links.length - 1) {
        links[index + 1].focus();
      } else if (event.key === "ArrowUp") {
        (index === 0 ? search : links[index - 1]).focus();
      }
    }
  });
})();

// --- the till: a form with data-confirm asks before it is sent (close the day, sign off) ---
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
}, true);

/* A request htmx makes that fails (a server error, no network) says so where its answer would have gone,
   instead of leaving the row unchanged. The words come from the page's language (body data-request-failed). */
(function () {
  "use strict";

  function failed(event) {
    var target = event.detail && event.detail.target;
    if (!target) {
      return;
    }
    var words = document.body.getAttribute("data-request-failed") || "The request failed.";
    var status = event.detail.xhr && event.detail.xhr.status ? " (HTTP " + event.detail.xhr.status + ")" : "";
    var old = target.querySelector(":scope > .request-failed");
    if (old) {
      old.remove();
    }
    var note = document.createElement("p");
    note.className = "alert error";
    note.setAttribute("role", "alert");
    note.setAttribute("data-testid", "request-failed");
    note.textContent = words + status;
    var holder = note;
    if (/^(TBODY|TABLE|THEAD)$/.test(target.tagName)) {  // a table row group gets a row of its own
      holder = document.createElement("tr");
      var cell = document.createElement("td");
      cell.colSpan = 99;
      cell.appendChild(note);
      holder.appendChild(cell);
    }
    holder.classList.add("request-failed");
    target.insertBefore(holder, target.firstChild);
  }

  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);
})();

/* The change for cash at the counter, as the clerk types (the server says it again after booking): integer fen,
   as the amounts are written ("123.45", full-width digits read as ASCII); nothing shown until both are amounts. */
(function () {
  "use strict";

  function fen(text) {
    var ascii = (text || "").trim().replace(/[\uff10-\uff19\uff0e]/g, function (ch) {
      return ch === "\uff0e" ? "." : String.fromCharCode(ch.charCodeAt(0) - 0xfee0);
    });
    var match = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(ascii);
    if (!match) {
      return null;
    }
    return parseInt(match[1], 10) * 100 + parseInt(((match[2] || "") + "00").slice(0, 2), 10);
  }

  function update(form) {
    var out = form.querySelector("#pay-change");
    var cashOnly = form.querySelector("[data-cash-only]");
    var channel = form.querySelector("input[name=channel]:checked");
    var isCash = !channel || channel.value === "CASH";
    if (cashOnly) {
      cashOnly.hidden = !isCash;
    }
    if (!out) {
      return;
    }
    var amount = fen(form.querySelector("#pay-amount").value);
    var tendered = fen(form.querySelector("#pay-tendered").value);
    if (amount === null || tendered === null || !isCash) {
      out.textContent = "—";
      out.classList.remove("short");
      return;
    }
    var change = tendered - amount;
    var text = (Math.abs(change) / 100).toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    out.textContent = (change < 0 ? "−" : "") + text;
    out.classList.toggle("short", change < 0);
  }

  document.addEventListener("input", function (event) {
    var form = event.target.form;
    if (form && form.querySelector("#pay-change")) {
      update(form);
    }
  });
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.querySelector("#pay-change")) {
      update(form);
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var out = document.getElementById("pay-change");
    if (out && out.form) {
      update(out.form);
    }
  });
})();
