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
 * A rotating ticket's page asks for its secret once, with helloExtra: () => ({rotating_secret:
 * true}) and an on["rotating_secret"] handler, keeps it, and draws the code of the moment:
 *
 *   TicketBridge.rotatingCode(signedCode, secret, Date.now())  // "TB1....12345678"
 *
 * (RFC 6238 TOTP, HMAC-SHA256, 8 digits, 15 s steps; docs/protocol.md.) It needs no network.
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
        const hello = Object.assign({}, options.helloExtra ? options.helloExtra() : {}, {
          type: "hello",
          token: token,
        });
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

  // SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104) over byte arrays, synchronous: WebCrypto is
  // asynchronous and missing outside secure contexts, and a rotating code is drawn every step.
  const K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ];

  function sha256(bytes) {
    const h = [
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
      0x5be0cd19,
    ];
    // Padding: 0x80, zeros, and the length in bits as 64 bits big-endian.
    const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[bytes.length] = 0x80;
    const bits = bytes.length * 8;
    const end = padded.length;
    padded[end - 5] = Math.floor(bits / 0x100000000) & 0xff;
    for (let i = 0; i < 4; i++) padded[end - 1 - i] = (bits >>> (8 * i)) & 0xff;
    const w = new Array(64);
    const rotr = (x, n) => (x >>> n) | (x << (32 - n));
    for (let off = 0; off < end; off += 64) {
      for (let i = 0; i < 16; i++) {
        const j = off + 4 * i;
        w[i] = (padded[j] << 24) | (padded[j + 1] << 16) | (padded[j + 2] << 8) | padded[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let [a, b, c, d, e, f, g, k] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      [a, b, c, d, e, f, g, k].forEach(function (v, i) {
        h[i] = (h[i] + v) | 0;
      });
    }
    const out = new Uint8Array(32);
    h.forEach(function (v, i) {
      for (let j = 0; j < 4; j++) out[4 * i + j] = (v >>> (24 - 8 * j)) & 0xff;
    });
    return out;
  }

  function hmacSha256(key, message) {
    const block = new Uint8Array(64);
    block.set(key.length > 64 ? sha256(key) : key);
    const inner = new Uint8Array(64 + message.length);
    const outer = new Uint8Array(64 + 32);
    for (let i = 0; i < 64; i++) {
      inner[i] = block[i] ^ 0x36;
      outer[i] = block[i] ^ 0x5c;
    }
    inner.set(message, 64);
    outer.set(sha256(inner), 64);
    return sha256(outer);
  }

  function base32Decode(text) {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const out = [];
    let acc = 0;
    let bits = 0;
    for (const ch of String(text).toUpperCase()) {
      const v = alphabet.indexOf(ch);
      if (v < 0) throw new Error("not base32");
      acc = (acc << 5) | v;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >>> bits) & 0xff);
      }
    }
    return new Uint8Array(out);
  }

  const STEP_MS = 15000;

  // The 8-digit value of the step of `nowMs` (RFC 6238 over RFC 4226's dynamic truncation).
  function rotatingValue(secretBase32, nowMs) {
    const step = Math.floor(nowMs / STEP_MS);
    const counter = new Uint8Array(8);
    const hi = Math.floor(step / 0x100000000);
    for (let i = 0; i < 4; i++) {
      counter[3 - i] = (hi >>> (8 * i)) & 0xff;
      counter[7 - i] = (step >>> (8 * i)) & 0xff;
    }
    const mac = hmacSha256(base32Decode(secretBase32), counter);
    const o = mac[31] & 0x0f;
    const bin =
      ((mac[o] & 0x7f) * 0x1000000 + (mac[o + 1] << 16) + (mac[o + 2] << 8) + mac[o + 3]) %
      100000000;
    return String(bin).padStart(8, "0");
  }

  global.TicketBridge = {
    connect: connect,
    rotatingValue: rotatingValue,
    rotatingCode: function (signedCode, secretBase32, nowMs) {
      return signedCode + "." + rotatingValue(secretBase32, nowMs);
    },
    rotatingStepMs: STEP_MS,
  };
})(typeof window !== "undefined" ? window : this);
