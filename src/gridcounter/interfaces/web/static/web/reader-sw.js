/* The reader's route offline: the service worker of /reader/ (served from /reader/sw.js, same origin).
   Pages of the route: network first, the last good copy when there is no network. Our static files: the cached
   copy first (their names do not change within a release; the cache is named for it). Posts are never cached:
   readings taken offline wait in reader.js's queue until the network returns. */
"use strict";

var CACHE = "gridcounter-reader-v2";  // a new name with every change of reader.js or app.css
var STATIC = self.registration.scope.replace(/reader\/$/, "static/");

self.addEventListener("install", function (event) {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("gridcounter-reader-") === 0 && n !== CACHE; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) {
    return;
  }
  if (request.url.indexOf(STATIC) === 0) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (hit) {
        return hit || fetch(request).then(function (response) {
          if (response.ok) { cache.put(request, response.clone()); }
          return response;
        });
      });
    }));
    return;
  }
  if (request.mode === "navigate" && request.url.indexOf(self.registration.scope) === 0) {
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok && !response.redirected) {
        var copy = response.clone();
        caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      }
      return response;
    }).catch(function () {
      return caches.open(CACHE).then(function (cache) {
        return cache.match(request, {ignoreSearch: false}).then(function (hit) {
          return hit || cache.match(self.registration.scope);
        });
      });
    }));
  }
});
