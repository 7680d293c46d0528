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
 * a fresh one and reconnects with `since`; once per welcome, so that a backend whose tokens are
 * refused is not asked in a loop. A getToken that fails is asked again with backoff. Without
 * getToken, or when it gives no new token, the status becomes "expired" (or "unauthorized") and
 * the client stops: live updates have stopped, and the page should say so.
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
    // A token may be renewed once per welcome: a refusal after a welcome may be an expiry, but a
    // fresh token refused again before any welcome is wrong, and asking for more would loop.
    let mayRenew = false;

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

    // The token ended: ask the page for a fresh one, then reconnect with `since`. No getToken, or
    // no new token from it: stop with `status`. A getToken that fails (the backend is down) is
    // asked again with the same backoff as a reconnect.
    function renew(status) {
      if (closed) return;
      if (!getToken) {
        onStatus(status);
        return;
      }
      let next;
      try {
        next = getToken();
      } catch (e) {
        next = Promise.reject(e);
      }
      Promise.resolve(next).then(
        function (fresh) {
          if (closed) return;
          if (typeof fresh !== "string" || fresh === "" || fresh === token) {
            onStatus(status);
            return;
          }
          token = fresh;
          open();
        },
        function () {
          if (closed) return;
          onStatus("offline");
          const base = Math.min(maxDelay, minDelay * Math.pow(2, failures));
          failures += 1;
          timer = setTimeout(function () {
            renew(status);
          }, base * (0.5 + Math.random()));
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
          mayRenew = true;
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
        if (refusal && mayRenew) {
          mayRenew = false; // until the next welcome
          renew(refusal === "token_expired" ? "expired" : "unauthorized");
          return;
        }
        if (refusal) {
          // Refused before any welcome since the last renewal: this token is wrong, not old.
          onStatus(refusal === "token_expired" ? "expired" : "unauthorized");
          return;
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
