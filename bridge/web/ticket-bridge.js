/*
 * ticket-bridge.js - the browser client of ticket-bridge's WebSocket gateway.
 * No dependencies, no build step. Served by the bridge at /ticket-bridge.js.
 *
 *   const client = TicketBridge.connect({
 *     token,                                   // the owner's JWT, from the venue's backend
 *     on: { "ticket.admitted": (e) => ..., "push": (e) => ... },
 *     onStatus: (s) => ...,   // "connecting" | "online" | "offline" | "unauthorized"
 *     onWelcome: (w) => ...,  // {uid, seq, recovered}; recovered false: reload your state
 *   });
 *   client.close();
 *
 * It sends the last seq it saw as `since` on every reconnect (kept in localStorage per uid), so
 * events that happened while the phone was offline are replayed, in order, exactly once.
 */
(function (global) {
  "use strict";

  function uidOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4))).sub || "";
    } catch (e) {
      return "";
    }
  }

  function connect(options) {
    const token = options.token;
    const handlers = options.on || {};
    const onStatus = options.onStatus || function () {};
    const onWelcome = options.onWelcome || function () {};
    const url =
      options.url ||
      (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    const key = "ticket-bridge:since:" + (options.storageKey || uidOf(token));
    const minDelay = 500;
    const maxDelay = 30000;

    let ws = null;
    let closed = false;
    let failures = 0;
    let timer = null;

    function lastSeq() {
      const v = Number(global.localStorage && localStorage.getItem(key));
      return Number.isFinite(v) && v >= 0 ? v : null;
    }
    function remember(seq) {
      try {
        localStorage.setItem(key, String(seq));
      } catch (e) {
        /* private mode: keep going without persistence */
      }
    }

    function schedule() {
      if (closed) return;
      // Exponential backoff with jitter, so that a venue's phones do not all return at once.
      const base = Math.min(maxDelay, minDelay * Math.pow(2, failures));
      failures += 1;
      timer = setTimeout(open, base * (0.5 + Math.random()));
    }

    function open() {
      if (closed) return;
      onStatus("connecting");
      let authorized = true;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        schedule();
        return;
      }
      ws.onopen = function () {
        const hello = { type: "hello", token: token };
        const since = options.since !== undefined && lastSeq() === null ? options.since : lastSeq();
        if (since !== null && since !== undefined) hello.since = since;
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = function (m) {
        let msg;
        try {
          msg = JSON.parse(m.data);
        } catch (e) {
          return;
        }
        if (msg.type === "welcome") {
          failures = 0;
          onStatus("online");
          // A client that is ahead of the server's log (another database) starts from here.
          const since = lastSeq();
          if (since !== null && since > msg.seq) remember(msg.seq);
          onWelcome(msg);
          return;
        }
        if (msg.type === "error") {
          if (msg.reason === "unauthorized") authorized = false;
          return;
        }
        if (typeof msg.seq === "number") remember(msg.seq);
        const h = handlers[msg.type] || handlers["*"];
        if (h) h(msg);
      };
      ws.onclose = function () {
        ws = null;
        if (closed) return;
        if (!authorized) {
          onStatus("unauthorized");
          return; // a new token is needed: connect again with it
        }
        onStatus("offline");
        schedule();
      };
    }

    open();
    return {
      close: function () {
        closed = true;
        clearTimeout(timer);
        if (ws) ws.close(1000);
      },
    };
  }

  global.TicketBridge = { connect: connect };
})(typeof window !== "undefined" ? window : this);
