/* The reader's route on a phone: readings wait in localStorage (each with a client_key) until the server has them.
   A reading is taken off the queue only when the server answers STORED; a resend with the same client_key is
   stored once. A CHECK answer keeps it on the phone until the reader corrects the value or chooses a note.
   A photo of the register waits beside its reading in IndexedDB (localStorage is too small for photos), under the
   reading's client_key, and goes with it as a multipart post; it is deleted from the phone once the server has it. */
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

  // ---- photos waiting on the phone (IndexedDB, one store, keyed by the reading's client_key) ----
  var PHOTO_DB = "gridcounter-reader-photos-" + root.dataset.user;
  var PHOTO_MAX = parseInt(root.dataset.photoMax || "0", 10);
  var PHOTO_RULE = root.dataset.photoRequired || "OPTIONAL";
  var PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
  var photoDb = null;

  function openPhotos() {
    if (!photoDb) {
      photoDb = new Promise(function (resolve, reject) {
        if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
        var request = window.indexedDB.open(PHOTO_DB, 1);
        request.onupgradeneeded = function () { request.result.createObjectStore("photos"); };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return photoDb;
  }

  function photoStore(mode, act) {
    return openPhotos().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("photos", mode);
        var request = act(tx.objectStore("photos"));
        tx.oncomplete = function () { resolve(request && request.result); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function putPhoto(key, file) {
    return photoStore("readwrite", function (store) { return store.put(file, key); });
  }

  function getPhoto(key) {
    return photoStore("readonly", function (store) { return store.get(key); }).catch(function () { return null; });
  }

  function dropPhoto(key) {
    return photoStore("readwrite", function (store) { return store.delete(key); }).catch(function () {});
  }

  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  // What is wrong with a chosen photo, in words naming the field; "" when it may go.
  function photoProblem(file) {
    if (PHOTO_TYPES.indexOf(file.type) < 0) {
      return TEXTS.photo_type;
    }
    if (PHOTO_MAX && file.size > PHOTO_MAX) {
      return TEXTS.photo_large.replace("{size}", sizeText(file.size)).replace("{limit}", sizeText(PHOTO_MAX));
    }
    return "";
  }

  function chosenPhoto(form) {
    var input = form.querySelector("input.photo-input");
    return input && input.files && input.files.length ? input.files[0] : null;
  }

  function showPhoto(form, file, problem) {
    var box = form.querySelector(".photo-chosen");
    var pick = form.querySelector("label.photo-pick");
    if (!box) { return; }
    if (box.dataset.preview) { URL.revokeObjectURL(box.dataset.preview); delete box.dataset.preview; }
    box.textContent = "";
    box.className = "photo-chosen" + (problem ? " error" : "");
    box.removeAttribute("role");
    pick.classList.toggle("has-photo", !!file && !problem);
    if (!file && !problem) { box.hidden = true; return; }
    box.hidden = false;
    if (problem) {
      box.setAttribute("role", "alert");
      box.textContent = problem;
      return;
    }
    var url = URL.createObjectURL(file);
    box.dataset.preview = url;
    var img = document.createElement("img");
    img.src = url;
    img.alt = "";
    var name = document.createElement("span");
    name.className = "photo-name";
    name.textContent = TEXTS.photo_attached + " " + (file.name || "") + " (" + sizeText(file.size) + ")";
    var remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = TEXTS.photo_remove;
    remove.addEventListener("click", function () { clearPhoto(form); });
    box.appendChild(img);
    box.appendChild(name);
    box.appendChild(remove);
  }

  function clearPhoto(form) {
    var input = form.querySelector("input.photo-input");
    if (input) { input.value = ""; }
    showPhoto(form, null, "");
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
    var ask = notes.querySelector(".photo-ask-state");
    if (item.photo) {
      notes.querySelector(".photo-ask-text").hidden = true;
      ask.textContent = TEXTS.photo_attached + " " + (item.photo.name || "") + " (" + sizeText(item.photo.size) + ")";
    }
    notes.querySelector(".confirm-note").addEventListener("click", function (event) {
      var chosen = event.target.closest("fieldset").querySelector("input[type=radio]:checked");
      if (!chosen) {
        window.alert(TEXTS.need_note);
        return;
      }
      var form = event.target.closest("form.reading");
      var file = form ? chosenPhoto(form) : null;
      if (file && photoProblem(file)) {
        showPhoto(form, null, photoProblem(file));
        return;
      }
      if (!file && !item.photo && (PHOTO_RULE !== "OPTIONAL" || item.photo_required)) {
        showPhoto(form, null, TEXTS.photo_needed_flagged);
        return;
      }
      var ready = file ? putPhoto(item.client_key, file) : Promise.resolve();
      ready.then(function () {
        if (file) { clearPhoto(form); }
        update(item.client_key, function (it) {
          it.note = chosen.value;
          it.state = "QUEUED";
          if (file) { it.photo = {name: file.name, size: file.size, type: file.type}; }
        });
        flush();
      }, function () {
        showPhoto(form, null, TEXTS.photo_store);
      });
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
        setState(form, "queued", TEXTS.waiting + " " + item.value + (item.note ? " · " + (TEXTS.notes[item.note] || item.note) : "") +
                 (item.photo ? " · " + TEXTS.photo_sent : ""));
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
    var file = chosenPhoto(form);
    // A photo that cannot go, or a missing one that must: say so beside it and keep the typed value in the box.
    if (file && photoProblem(file)) {
      showPhoto(form, null, photoProblem(file));
      return;
    }
    if (!file && PHOTO_RULE === "ALWAYS") {
      showPhoto(form, null, TEXTS.photo_needed);
      return;
    }
    var replaced = [];
    var queue = load().filter(function (it) {
      // A new value for the same register replaces one that was not stored (waiting, to check, refused).
      var same = it.meter === form.dataset.meter && it.register === form.dataset.register;
      if (same && it.photo) { replaced.push(it.client_key); }
      return !same;
    });
    var item = {
      client_key: uuid(), meter: form.dataset.meter, register: form.dataset.register, value: value,
      read_at: new Date().toISOString(), note: "", state: "QUEUED"
    };
    var ready = file ? putPhoto(item.client_key, file) : Promise.resolve();
    ready.then(function () {
      replaced.forEach(dropPhoto);
      if (file) {
        item.photo = {name: file.name, size: file.size, type: file.type};
        clearPhoto(form);
      }
      queue.push(item);
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
    }, function () {
      showPhoto(form, null, TEXTS.photo_store);
    });
  }

  function send(item) {
    var fields = {client_key: item.client_key, meter: item.meter, register: item.register, value: item.value,
                  read_at: item.read_at, note: item.note};
    var body = item.photo ? getPhoto(item.client_key) : Promise.resolve(null);
    return body.then(function (photo) {
      var headers = {"X-CSRFToken": root.dataset.csrf, "Accept": "application/json"};
      var payload;
      if (photo) {
        // multipart: the browser sets the Content-Type with its boundary
        payload = new FormData();
        Object.keys(fields).forEach(function (k) { payload.append(k, fields[k]); });
        payload.append("photo", photo, item.photo.name || "photo");
      } else {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(fields);
      }
      return fetch(root.dataset.postUrl, {method: "POST", credentials: "same-origin", headers: headers, body: payload});
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
        if (item.photo) { dropPhoto(item.client_key); }
        setState(form, body.held ? "held" : "sent",
                 (body.held ? TEXTS.sent_held : TEXTS.sent) + " " + item.value + (body.photo ? " · " + TEXTS.photo_sent : ""));
        if (form) { delete form.dataset.key; }
      } else if (body.status === "CHECK") {
        update(item.client_key, function (it) {
          it.state = "CHECK"; it.findings = body.findings; it.photo_required = !!body.photo_required;
        });
      } else if (body.field === "photo") {
        // The photo was refused (or a required one is missing): nothing was stored. The value goes back into its box
        // and the reason shows beside the photo button, so that the reader re-sends with another photo or none.
        save(load().filter(function (it) { return it.client_key !== item.client_key; }));
        if (item.photo) { dropPhoto(item.client_key); }
        if (form) {
          delete form.dataset.key;
          setState(form, "error", TEXTS.photo_kept.replace("{value}", item.value));
          form.querySelector("input[name=value]").value = item.value;
          showPhoto(form, null, body.detail);
        }
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
  root.addEventListener("change", function (event) {
    if (!event.target.matches("input.photo-input")) {
      return;
    }
    var form = event.target.closest("form.reading");
    var file = chosenPhoto(form);
    var problem = file ? photoProblem(file) : "";
    if (problem) {
      event.target.value = "";
    }
    showPhoto(form, problem ? null : file, problem);
  });
  window.addEventListener("online", flush);
  window.addEventListener("offline", render);
  window.setInterval(flush, RETRY_MS);
  render();
  flush();
})();
