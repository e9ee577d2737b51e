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
    if (event.key === "/" && !typingIn(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
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
