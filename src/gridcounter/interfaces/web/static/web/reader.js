/* The reader's route on a phone: readings wait in localStorage (each with a client_key) until the server has them.
   A reading is taken off the queue only when the server answers STORED; a resend with the same client_key is
   stored once. A CHECK answer keeps it on the phone until the reader corrects the value or chooses a note. */
(function () {
  "use strict";

  var root = document.getElementById("reader");
  if (!root) {
    return;
  }
  var TEXTS = JSON.parse(document.getElementById("reader-texts").textContent);
  // the route opens with no network once it has been opened: reader-sw.js keeps the page and our static files
  if (navigator.serviceWorker && root.dataset.swUrl) {
    navigator.serviceWorker.register(root.dataset.swUrl).catch(function () {});
  }
  var KEY = "gridcounter.reader.queue." + root.dataset.user;
  var RETRY_MS = 10000;
  var flushing = false;

  function load() {
    try {
      return JSON.parse(window.localStorage.getItem(KEY) || "[]");
    } catch (e) {
      return [];
    }
  }

  function save(queue) {
    window.localStorage.setItem(KEY, JSON.stringify(queue));
  }

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function formFor(item) {
    return root.querySelector('form.reading[data-meter="' + CSS.escape(item.meter) + '"][data-register="' +
      CSS.escape(item.register) + '"]');
  }

  function setState(form, state, text, extra) {
    if (!form) {
      return;
    }
    var box = form.querySelector(".state");
    form.dataset.state = state;
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "state-line " + state;
    p.textContent = text;
    box.appendChild(p);
    if (extra) {
      box.appendChild(extra);
    }
  }

  function checkBox(item) {
    var wrap = document.createElement("div");
    var list = document.createElement("ul");
    list.className = "findings";
    (item.findings || []).forEach(function (f) {
      var li = document.createElement("li");
      li.textContent = f.reason;
      li.dataset.code = f.code;
      list.appendChild(li);
    });
    wrap.appendChild(list);
    var notes = document.getElementById("note-template").content.cloneNode(true);
    notes.querySelectorAll("input[type=radio]").forEach(function (radio) {
      radio.name = "note-" + item.client_key;
    });
    notes.querySelector(".confirm-note").addEventListener("click", function (event) {
      var chosen = event.target.closest("fieldset").querySelector("input[type=radio]:checked");
      if (!chosen) {
        window.alert(TEXTS.need_note);
        return;
      }
      update(item.client_key, function (it) { it.note = chosen.value; it.state = "QUEUED"; });
      flush();
    });
    wrap.appendChild(notes);
    return wrap;
  }

  function update(clientKey, change) {
    var queue = load();
    queue.forEach(function (it) {
      if (it.client_key === clientKey) {
        change(it);
      }
    });
    save(queue);
    render();
  }

  function render() {
    var queue = load();
    var waiting = 0;
    queue.forEach(function (item) {
      var form = formFor(item);
      if (item.state === "CHECK") {
        if (!form || form.dataset.state !== "check" || form.dataset.key !== item.client_key) {
          setState(form, "check", TEXTS.check + " " + item.value, checkBox(item));
          if (form) { form.dataset.key = item.client_key; }
        }
      } else if (item.state === "ERROR") {
        setState(form, "error", item.message || TEXTS.error);
      } else {
        waiting += 1;
        setState(form, "queued", TEXTS.waiting + " " + item.value + (item.note ? " · " + (TEXTS.notes[item.note] || item.note) : ""));
        if (form) { form.dataset.key = item.client_key; }
      }
    });
    var status = document.getElementById("sync-status");
    if (waiting) {
      status.textContent = TEXTS.waiting_n.replace("{n}", waiting) + (navigator.onLine ? "" : " · " + TEXTS.offline);
      status.dataset.state = "waiting";
    } else {
      status.textContent = queue.length ? TEXTS.attention.replace("{n}", queue.length) : TEXTS.all_sent;
      status.dataset.state = queue.length ? "attention" : "sent";
    }
  }

  function enqueue(form) {
    var input = form.querySelector("input[name=value]");
    var value = (input.value || "").trim().replace(/,/g, "");
    if (!/^\d+(\.\d{1,2})?$/.test(value)) {
      setState(form, "error", TEXTS.bad_value);
      input.focus();
      return;
    }
    var queue = load().filter(function (it) {
      // A new value for the same register replaces one that was not stored (waiting, to check, refused).
      return !(it.meter === form.dataset.meter && it.register === form.dataset.register);
    });
    queue.push({
      client_key: uuid(), meter: form.dataset.meter, register: form.dataset.register, value: value,
      read_at: new Date().toISOString(), note: "", state: "QUEUED"
    });
    save(queue);
    input.value = "";
    render();
    flush();
    // the next meter still to read: forms folded away under "Read again" (already read this cycle) are skipped
    var forms = Array.prototype.slice.call(root.querySelectorAll("form.reading")).filter(function (f) {
      return f === form || !f.closest("details:not([open])");
    });
    var next = forms[forms.indexOf(form) + 1];
    if (next) {
      next.querySelector("input[name=value]").focus();
    }
  }

  function send(item) {
    return fetch(root.dataset.postUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf, "Accept": "application/json"},
      body: JSON.stringify({client_key: item.client_key, meter: item.meter, register: item.register,
                            value: item.value, read_at: item.read_at, note: item.note})
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.redirected || type.indexOf("application/json") < 0) {
        // Signed out (the sign-in page answered) or refused: keep the reading and stop for now.
        throw {signin: true};
      }
      return response.json().then(function (body) { return {code: response.status, body: body}; });
    });
  }

  function flush() {
    if (flushing) {
      return;
    }
    var pending = load().filter(function (it) { return it.state === "QUEUED"; });
    if (!pending.length) {
      render();
      return;
    }
    flushing = true;
    var item = pending[0];
    send(item).then(function (answer) {
      var body = answer.body;
      var form = formFor(item);
      if (body.status === "STORED") {
        save(load().filter(function (it) { return it.client_key !== item.client_key; }));
        setState(form, body.held ? "held" : "sent",
                 (body.held ? TEXTS.sent_held : TEXTS.sent) + " " + item.value);
        if (form) { delete form.dataset.key; }
      } else if (body.status === "CHECK") {
        update(item.client_key, function (it) { it.state = "CHECK"; it.findings = body.findings; });
      } else {
        update(item.client_key, function (it) { it.state = "ERROR"; it.message = body.detail; });
      }
      flushing = false;
      render();
      flush();
    }).catch(function (problem) {
      flushing = false;
      render();
      if (problem && problem.signin) {
        var status = document.getElementById("sync-status");
        status.textContent = TEXTS.signin;
        status.dataset.state = "signin";
      }
      // Offline or the server did not answer: the reading stays queued; the online event or the timer retries.
    });
  }

  root.addEventListener("submit", function (event) {
    var form = event.target.closest("form.reading");
    if (form) {
      event.preventDefault();
      enqueue(form);
    }
  });
  window.addEventListener("online", flush);
  window.addEventListener("offline", render);
  window.setInterval(flush, RETRY_MS);
  render();
  flush();
})();
