/* Live updates of a page: its WebSocket (htmx-ext-ws, on the element with [data-live]) and,
 * while that socket is down, polling of the same partials.
 *
 * Messages from our consumers are JSON: {"kind", "detector", ..., "html"?}. The html holds
 * partials marked hx-swap-oob and is swapped by htmx; the whole message is then dispatched as a
 * "live:message" event on document for page scripts (the chart).
 *
 * Elements with [data-live-refresh] and hx-trigger="live-refresh" are refreshed every few
 * seconds while the socket is down, and once when it comes back. Elements with
 * data-refresh-on="points training" are refreshed (debounced by data-refresh-delay ms) when a
 * message of one of those kinds arrives. Lists with data-max-items keep that many children.
 */
(function () {
  "use strict";

  var POLL_MS = 3000;
  var CONNECT_GRACE_MS = 5000;
  var state = "connecting"; // connecting | up | down
  var pollTimer = null;
  var socket = null;
  var pending = {};

  function root() {
    return document.querySelector("[data-live]");
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function setState(next) {
    if (next === state) return;
    state = next;
    var live = root();
    if (live) live.setAttribute("data-live-state", next);
    document.querySelectorAll("[data-live-pill]").forEach(function (pill) {
      pill.textContent = next === "up" ? "Live" : next === "down" ? "Paused" : "Connecting…";
      pill.setAttribute("data-state", next);
    });
    document.querySelectorAll("[data-live-banner]").forEach(function (banner) {
      banner.hidden = next !== "down";
    });
    if (next === "down") {
      if (!pollTimer) pollTimer = window.setInterval(refreshAll, POLL_MS);
    } else if (pollTimer) {
      window.clearInterval(pollTimer);
      pollTimer = null;
    }
    emit("live:" + next);
  }

  function refreshAll() {
    document.querySelectorAll("[data-live-refresh]").forEach(function (el) {
      htmx.trigger(el, "live-refresh");
    });
    emit("live:poll");
  }

  function refreshOn(kind) {
    document.querySelectorAll("[data-refresh-on]").forEach(function (el) {
      var kinds = (el.getAttribute("data-refresh-on") || "").split(" ");
      if (!el.id || kinds.indexOf(kind) < 0 || pending[el.id]) return;
      var delay = parseInt(el.getAttribute("data-refresh-delay") || "2000", 10);
      var id = el.id;
      pending[id] = window.setTimeout(function () {
        pending[id] = null;
        var current = document.getElementById(id);
        if (current) htmx.trigger(current, "live-refresh");
      }, delay);
    });
  }

  function trimLists() {
    document.querySelectorAll("[data-max-items]").forEach(function (list) {
      var max = parseInt(list.getAttribute("data-max-items"), 10);
      while (list.children.length > max) list.removeChild(list.lastElementChild);
    });
  }

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    var wasDown = state === "down";
    setState("up");
    if (wasDown) refreshAll(); // catch up with what the socket missed
    emit("live:open");
  });

  document.addEventListener("htmx:wsClose", function () {
    socket = null;
    setState("down");
  });

  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    var text = event.detail.message;
    if (typeof text !== "string" || text.charAt(0) !== "{") return; // plain HTML: htmx swaps it
    event.preventDefault();
    var message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    if (message.html) {
      htmx.swap(document.body, message.html, { swapStyle: "none" });
      trimLists();
    }
    if (message.kind) refreshOn(message.kind);
    emit("live:message", message);
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!root()) return;
    // A socket that does not open soon (a proxy without WebSockets, say) means polling.
    window.setTimeout(function () {
      if (state === "connecting") setState("down");
    }, CONNECT_GRACE_MS);
  });

  window.Live = {
    send: function (message) {
      if (socket) socket.send(JSON.stringify(message));
    },
    state: function () {
      return state;
    },
  };
})();
