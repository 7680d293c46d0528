/*
 * ticket-bridge.js - the browser client of ticket-bridge's WebSocket gateway.
 * No dependencies, no build step. Served by the bridge at /ticket-bridge.js.
 *
 *   const client = TicketBridge.connect({
 *     token,                                   // the owner's JWT, from the venue's backend
 *     getToken: () => fetch(...).then(...),    // optional: a fresh token (or a Promise of one)
 *     on: { "ticket.admitted": (e) => ..., "push": (e) => ... },
 *     onStatus: (s) => ...,   // "connecting" | "online" | "offline" | "unauthorized" | "expired"
 *     onWelcome: (w) => ...,  // {uid, seq, recovered}; recovered false: reload your state
 *   });
 *   client.close();
 *
 * It sends the last seq it saw as `since` on every reconnect (kept in localStorage per uid), so
 * events that happened while the phone was offline are replayed, in order, exactly once.
 *
 * Tokens end. When the server closes with `token_expired`, or refuses a token as `unauthorized`
 * on a reconnect (it may have expired while the phone was offline), the client asks getToken for
 * a fresh one and reconnects with `since`. Without getToken, or when it gives nothing, the status
 * becomes "expired" (or "unauthorized") and the client stops: live updates have stopped, and the
 * page should say so.
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
    let token = options.token;
    const getToken = options.getToken;
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
    let welcomed = false; // a connection was accepted once: a later refusal may be an expiry

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

    // The token ended: ask the page for a fresh one, then reconnect with `since`.
    function renew(status) {
      let next = null;
      try {
        next = getToken ? getToken() : null;
      } catch (e) {
        next = null;
      }
      Promise.resolve(next).then(
        function (fresh) {
          if (closed) return;
          if (typeof fresh !== "string" || fresh === "" || fresh === token) {
            onStatus(status);
            return;
          }
          token = fresh;
          failures = 0;
          open();
        },
        function () {
          if (!closed) onStatus(status);
        },
      );
    }

    function open() {
      if (closed) return;
      onStatus("connecting");
      let refusal = null; // "unauthorized" or "token_expired", from the server's last words
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
          welcomed = true;
          onStatus("online");
          // A client that is ahead of the server's log (another database) starts from here.
          const since = lastSeq();
          if (since !== null && since > msg.seq) remember(msg.seq);
          onWelcome(msg);
          return;
        }
        if (msg.type === "error") {
          if (msg.reason === "unauthorized" || msg.reason === "token_expired") refusal = msg.reason;
          return;
        }
        if (typeof msg.seq === "number") remember(msg.seq);
        const h = handlers[msg.type] || handlers["*"];
        if (h) h(msg);
      };
      ws.onclose = function () {
        ws = null;
        if (closed) return;
        if (refusal === "token_expired" || (refusal === "unauthorized" && welcomed)) {
          renew(refusal === "token_expired" ? "expired" : "unauthorized");
          return;
        }
        if (refusal) {
          onStatus("unauthorized");
          return; // the first token was refused: a new token is needed, connect again with it
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
