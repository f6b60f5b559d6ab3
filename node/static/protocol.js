/* fristed: the browser side of the WebSocket protocol (docs/api.md section 6). No page logic here.

   Two layers, in the spirit of Galène's protocol.js:
   - Connection: one socket to wss://<this host>/ws that reconnects by itself with backoff, typed
     event callbacks (on("chat.message", fn)), send(), and request() that matches a reply or an
     error by the frame's id. Rooms and calls use this layer too.
   - ChatClient: the citizen's chat on top of a Connection. It keeps the resume token in
     sessionStorage (under a neutral key), resumes after a reload or a lost connection, and resends
     messages the node has not acknowledged, by client_id (the node drops duplicates). */
"use strict";

(function (global) {
  const STORE_KEY = "view-state"; // neutral on purpose: it must not say what the page is for

  /** A random id for frames and messages: 22 url-safe characters. */
  function randomId() {
    const bytes = new Uint8Array(16);
    global.crypto.getRandomValues(bytes);
    let text = "";
    for (const b of bytes) {
      text += "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"[b & 63];
    }
    return text.slice(0, 22);
  }

  /** The node's own WebSocket address: same origin, so the node's Origin check passes. */
  function defaultUrl() {
    const scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + "/ws";
  }

  /** An error frame ({type:"error", code, reason}) turned into something you can throw. */
  class ProtocolError extends Error {
    constructor(frame) {
      super(frame && frame.reason ? frame.reason : "error");
      this.code = frame && frame.code ? String(frame.code) : "error";
      this.frame = frame || null;
    }
  }

  /** A tiny event emitter: on(type, fn) returns a function that removes the callback. */
  class Emitter {
    constructor() {
      this._handlers = new Map();
    }

    on(type, fn) {
      if (!this._handlers.has(type)) {
        this._handlers.set(type, new Set());
      }
      this._handlers.get(type).add(fn);
      return () => this._handlers.get(type).delete(fn);
    }

    emit(type, data) {
      const set = this._handlers.get(type);
      if (!set) {
        return;
      }
      for (const fn of Array.from(set)) {
        try {
          fn(data);
        } catch (err) {
          global.console.error("fristed: handler for " + type + " failed", err);
        }
      }
    }
  }

  /**
   * One WebSocket to the node that stays up.
   * Events: "status" ({state: "connecting"|"open"|"waiting"|"closed", delay?}), "welcome",
   * "frame" (every frame), one event per frame type ("chat.message", "error", …).
   */
  class Connection extends Emitter {
    constructor(options) {
      super();
      const opts = options || {};
      this.url = opts.url || defaultUrl();
      this.minDelay = opts.minDelay || 500;      // ms before the first retry
      this.maxDelay = opts.maxDelay || 30000;    // backoff ceiling
      this.keepalive = opts.keepalive || 25000;  // ms between pings
      this.pingTimeout = opts.pingTimeout || 10000;
      this.stopCodes = new Set(opts.stopCodes || [4000]); // 4000: the node moved this session elsewhere
      this.socket = null;
      this.state = "idle";
      this.ready = false;        // true after the node's "welcome"
      this.welcome = null;
      this._attempt = 0;
      this._retryTimer = 0;
      this._pingTimer = 0;
      this._stopped = false;
      this._waiting = new Map(); // frame id -> {resolve, reject, timer}
      this._wake = () => {
        if (!this._stopped && this.state === "waiting") {
          this._connectNow();
        }
      };
      this._visible = () => {
        if (global.document.visibilityState === "visible") {
          this._wake();
          if (this.socket) {
            this._ping(this.socket, 5000); // a phone waking up: is the old socket still alive?
          }
        }
      };
      this._offline = () => {
        // The browser has no network at all: this socket is dead even if it has not noticed yet.
        if (this.socket) {
          this._drop(this.socket);
        }
      };
    }

    /** Open the socket (again). Safe to call more than once. */
    connect() {
      this._stopped = false;
      global.addEventListener("online", this._wake);
      global.addEventListener("offline", this._offline);
      global.document.addEventListener("visibilitychange", this._visible);
      if (this.state === "idle" || this.state === "closed" || this.state === "waiting") {
        this._connectNow();
      }
    }

    /** Drop the socket and open a fresh one at once; resolves on the node's welcome (or after 10 s). */
    reconnect() {
      return new Promise((resolve) => {
        let off = null;
        const timer = global.setTimeout(() => { off(); resolve(false); }, 10000);
        off = this.on("welcome", () => { global.clearTimeout(timer); off(); resolve(true); });
        this._stopped = false;
        if (this.socket) {
          this._drop(this.socket);
        }
        this._connectNow();
      });
    }

    /** Close for good: no reconnect. */
    close() {
      this._stopped = true;
      global.removeEventListener("online", this._wake);
      global.removeEventListener("offline", this._offline);
      global.document.removeEventListener("visibilitychange", this._visible);
      global.clearTimeout(this._retryTimer);
      global.clearInterval(this._pingTimer);
      this._failWaiting("closed");
      if (this.socket) {
        const socket = this.socket;
        this.socket = null;
        try {
          socket.close(1000, "bye");
        } catch (err) {
          /* already closing */
        }
      }
      this.ready = false;
      this._setState("closed");
    }

    /** Send one frame now; false when the socket is not open (nothing is queued here). */
    send(frame) {
      if (!this.socket || this.socket.readyState !== global.WebSocket.OPEN) {
        return false;
      }
      try {
        this.socket.send(JSON.stringify(frame));
      } catch (err) {
        return false;
      }
      return true;
    }

    /**
     * Send a frame with a fresh id and wait for the node's answer: a frame carrying that id, or,
     * since some replies come without the id, the first id-less frame of one of `replyTypes`.
     * Resolves with the reply frame, or null after `timeout` ms; rejects with ProtocolError for an
     * error frame, or when the frame could not be sent ("offline").
     */
    request(frame, timeout, replyTypes) {
      const id = frame.id || randomId();
      const out = Object.assign({}, frame, { id: id });
      return new Promise((resolve, reject) => {
        if (!this.send(out)) {
          reject(new ProtocolError({ code: "offline", reason: "not connected" }));
          return;
        }
        const timer = global.setTimeout(() => {
          this._waiting.delete(id);
          resolve(null);
        }, timeout || 10000);
        this._waiting.set(id, { resolve: resolve, reject: reject, timer: timer, types: replyTypes || [] });
      });
    }

    /** Resolve once everything sent has left the browser, or after `ms` at most. */
    drain(ms) {
      const socket = this.socket;
      const until = Date.now() + (ms || 200);
      return new Promise((resolve) => {
        const check = () => {
          if (!socket || socket.readyState !== global.WebSocket.OPEN || socket.bufferedAmount === 0 ||
              Date.now() >= until) {
            resolve();
          } else {
            global.setTimeout(check, 10);
          }
        };
        check();
      });
    }

    _setState(state, extra) {
      this.state = state;
      this.emit("status", Object.assign({ state: state }, extra || {}));
    }

    _connectNow() {
      global.clearTimeout(this._retryTimer);
      if (this.socket) {
        return;
      }
      let socket;
      try {
        socket = new global.WebSocket(this.url);
      } catch (err) {
        this._scheduleRetry();
        return;
      }
      this.socket = socket;
      this.ready = false;
      this._setState("connecting");
      socket.onopen = () => {
        this._setState("open");
        global.clearInterval(this._pingTimer);
        this._pingTimer = global.setInterval(() => this._ping(socket), this.keepalive);
      };
      socket.onmessage = (event) => {
        if (this.socket === socket) {
          this._receive(event.data);
        }
      };
      socket.onclose = (event) => this._closed(socket, event.code, event.reason);
      socket.onerror = () => {
        /* onclose follows and decides what to do */
      };
    }

    _closed(socket, code, reason) {
      if (this.socket !== socket) {
        return; // an old socket we have already given up on
      }
      this.socket = null;
      this.ready = false;
      global.clearInterval(this._pingTimer);
      this._failWaiting("offline");
      const stop = this.stopCodes.has(code);
      this.emit("close", { code: code, reason: reason, stopped: stop });
      if (stop) {
        this._setState("closed", { code: code, reason: reason }); // connect() starts again
      } else if (!this._stopped) {
        this._scheduleRetry();
      }
    }

    /** Give up on a socket that looks dead now, without waiting for a closing handshake. */
    _drop(socket) {
      try {
        socket.close(4900, "dead link");
      } catch (err) {
        /* closing already */
      }
      this._closed(socket, 4900, "dead link");
    }

    _scheduleRetry() {
      const base = Math.min(this.maxDelay, this.minDelay * Math.pow(2, this._attempt));
      const delay = Math.round(base / 2 + Math.random() * base / 2);
      this._attempt = Math.min(this._attempt + 1, 10);
      this._setState("waiting", { delay: delay });
      this._retryTimer = global.setTimeout(() => this._connectNow(), delay);
    }

    _ping(socket, timeout) {
      if (socket !== this.socket) {
        return;
      }
      this.request({ type: "ping" }, timeout || this.pingTimeout, ["pong"]).then((reply) => {
        if (reply === null && socket === this.socket) {
          this._drop(socket); // no answer: a dead link, so reconnect
        }
      }, () => { /* not open: onclose handles it */ });
    }

    _failWaiting(code) {
      for (const [id, waiter] of this._waiting) {
        global.clearTimeout(waiter.timer);
        waiter.reject(new ProtocolError({ code: code, reason: "connection closed" }));
        this._waiting.delete(id);
      }
    }

    _receive(raw) {
      let frame;
      try {
        frame = JSON.parse(raw);
      } catch (err) {
        return;
      }
      if (!frame || typeof frame !== "object" || typeof frame.type !== "string") {
        return;
      }
      if (frame.type === "welcome") {
        this._attempt = 0;
        this.ready = true;
        this.welcome = frame;
      }
      let awaited = false;
      let key = typeof frame.id === "string" && this._waiting.has(frame.id) ? frame.id : null;
      if (key === null && frame.id === undefined) {
        for (const [id, waiter] of this._waiting) { // oldest first: Map keeps insertion order
          if (waiter.types.includes(frame.type)) {
            key = id;
            break;
          }
        }
      }
      if (key !== null) {
        const waiter = this._waiting.get(key);
        this._waiting.delete(key);
        global.clearTimeout(waiter.timer);
        awaited = true;
        if (frame.type === "error") {
          waiter.reject(new ProtocolError(frame));
        } else {
          waiter.resolve(frame);
        }
      }
      this.emit("frame", frame);
      if (!(awaited && frame.type === "error")) {
        this.emit(frame.type, frame); // an awaited error goes to its request() only
      }
    }
  }

  /** JSON in sessionStorage under one neutral key; quietly does nothing when storage is blocked. */
  class SessionState {
    constructor(storage, key) {
      this.storage = storage;
      this.key = key || STORE_KEY;
    }

    read() {
      try {
        const raw = this.storage && this.storage.getItem(this.key);
        const value = raw ? JSON.parse(raw) : null;
        return value && typeof value === "object" ? value : {};
      } catch (err) {
        return {};
      }
    }

    write(value) {
      try {
        if (this.storage) {
          this.storage.setItem(this.key, JSON.stringify(value));
        }
      } catch (err) {
        /* private mode or full: the chat still works, only reload-resume is lost */
      }
    }

    clear() {
      try {
        if (this.storage) {
          this.storage.removeItem(this.key);
        }
      } catch (err) {
        /* nothing to clear */
      }
    }
  }

  /** The id of a message in a chat.ack: the spec allows a bare id or a message object. */
  function messageIdOf(value) {
    if (typeof value === "number") {
      return value;
    }
    if (value && typeof value === "object" && typeof value.id === "number") {
      return value.id;
    }
    return null;
  }

  /**
   * The citizen's chat. Events (all with the node's frame unless said otherwise):
   * "started", "resumed", "state", "joined", "message", "ack" ({client_id, id, frame}),
   * "deleted", "typing", "ended", "gone" (the resume token no longer works), "letter.stored",
   * "letter.answer", "error" (a ProtocolError nobody awaited), "pending" (count of unacknowledged),
   * "rejected" ({client_id, code}: a message the node refused for good), "open" (the node's
   * {type: "status", open} frame when the opening state changes).
   */
  class ChatClient extends Emitter {
    constructor(connection, options) {
      super();
      const opts = options || {};
      this.conn = connection;
      this.store = new SessionState(opts.storage === undefined ? global.sessionStorage : opts.storage,
                                    opts.key);
      const saved = this.store.read();
      this.resumeToken = typeof saved.r === "string" ? saved.r : null;
      this.previousToken = typeof saved.q === "string" ? saved.q : null;
      this.pending = Array.isArray(saved.p) ? saved.p.filter((m) => m && m.c && typeof m.t === "string") : [];
      this.attached = false; // this socket is bound to our conversation on the node
      this.state = null;
      this.conversation = null;
      this._resuming = false;
      this._offs = [
        connection.on("welcome", () => this._onWelcome()),
        connection.on("close", () => { this.attached = false; this._resuming = false; }),
        connection.on("chat.started", (f) => this._onStarted(f)),
        connection.on("chat.resumed", (f) => this._onResumed(f)),
        connection.on("chat.state", (f) => { this.state = f.state; this.emit("state", f); }),
        connection.on("chat.joined", (f) => this.emit("joined", f)),
        connection.on("chat.message", (f) => this.emit("message", f)),
        connection.on("chat.ack", (f) => this._onAck(f)),
        connection.on("chat.deleted", (f) => this.emit("deleted", f)),
        connection.on("chat.typing", (f) => this.emit("typing", f)),
        connection.on("chat.ended", (f) => this._onEnded(f)),
        connection.on("status", (f) => this.emit("open", f)),
        connection.on("letter.stored", (f) => this.emit("letter.stored", f)),
        connection.on("letter.answer", (f) => this.emit("letter.answer", f)),
        connection.on("error", (f) => this._onError(f)),
      ];
    }

    /** True when this tab holds a conversation (waiting or active). */
    hasChat() {
      return this.resumeToken !== null;
    }

    /** Join the queue. Resolves with chat.started; rejects with ProtocolError (closed, blocked…). */
    start(fields) {
      const frame = { type: "chat.start", danger: Boolean(fields.danger) };
      if (fields.name) {
        frame.name = String(fields.name).slice(0, 40);
      }
      if (fields.topic) {
        frame.topic = fields.topic;
      }
      if (fields.lang) {
        frame.lang = fields.lang;
      }
      if (this.previousToken) {
        frame.previous = this.previousToken;
      }
      return this.conn.request(frame, 15000, ["chat.started"]);
    }

    /** Write a message; it is kept until the node acknowledges it. Returns its client_id. */
    send(text) {
      const message = { c: randomId(), t: String(text), ts: Date.now() / 1000 };
      this.pending.push(message);
      this._save();
      this.emit("pending", this.pending.length);
      if (this.attached) {
        this._sendPending(message);
      }
      return message.c;
    }

    deleteMessage(id) {
      return this.conn.request({ type: "chat.delete", message: id }, 10000, ["chat.deleted"]);
    }

    typing(active) {
      if (this.attached) {
        this.conn.send({ type: "chat.typing", active: Boolean(active) });
      }
    }

    /** End the chat. Resolves when the node has answered (or after a short wait). */
    leave() {
      return this.conn.request({ type: "chat.leave" }, 5000, ["chat.ended"]).finally(() => this._forget(true));
    }

    /**
     * Quick exit: tell the node to end the chat now (resuming first on a fresh socket) and forget
     * every trace in this tab. The caller navigates away; see Connection.drain().
     */
    quickExit() {
      if (this.resumeToken && this.conn.ready) {
        if (!this.attached && !this._resuming) {
          this.conn.send({ type: "chat.resume", resume: this.resumeToken });
        }
        this.conn.send({ type: "chat.quick_exit" });
      }
      this.resumeToken = null;
      this.previousToken = null;
      this.pending = [];
      this.attached = false;
      this.store.clear();
    }

    sendLetter(text, topic, lang) {
      const frame = { type: "letter.send", text: String(text) };
      if (topic) {
        frame.topic = topic;
      }
      if (lang) {
        frame.lang = lang;
      }
      return this.conn.request(frame, 15000, ["letter.stored"]);
    }

    readLetter(code) {
      return this.conn.request({ type: "letter.read", code: String(code) }, 15000, ["letter.answer"]);
    }

    /** Pending (unacknowledged) messages, oldest first: [{client_id, text, ts}]. */
    pendingMessages() {
      return this.pending.map((m) => ({ client_id: m.c, text: m.t, ts: m.ts }));
    }

    _save() {
      const value = {};
      if (this.resumeToken) {
        value.r = this.resumeToken;
      }
      if (this.previousToken) {
        value.q = this.previousToken;
      }
      if (this.pending.length) {
        value.p = this.pending;
      }
      if (Object.keys(value).length) {
        this.store.write(value);
      } else {
        this.store.clear();
      }
    }

    _forget(keepPrevious) {
      if (keepPrevious && this.resumeToken) {
        this.previousToken = this.resumeToken; // so a block still holds when a new chat starts
      }
      this.resumeToken = null;
      this.pending = [];
      this.attached = false;
      this._save();
      this.emit("pending", 0);
    }

    _onWelcome() {
      this.attached = false;
      if (this.resumeToken) {
        this._resuming = true;
        this.conn.request({ type: "chat.resume", resume: this.resumeToken }, 15000, ["chat.resumed"]).then(() => {
          this._resuming = false;
        }, (err) => {
          this._resuming = false;
          if (err.code === "unknown_resume" || err.code === "blocked") {
            this._forget(err.code === "blocked");
            this.emit("gone", err);
          }
        });
      }
    }

    _onStarted(frame) {
      this.resumeToken = typeof frame.resume === "string" ? frame.resume : null;
      this.conversation = frame.conversation || null;
      this.state = frame.state || "waiting";
      this.attached = true;
      this._save();
      this.emit("started", frame);
      this._flush();
    }

    _onResumed(frame) {
      this.conversation = frame.conversation || this.conversation;
      this.state = frame.state || this.state;
      this.attached = true;
      this.emit("resumed", frame);
      this._flush();
    }

    _onAck(frame) {
      const before = this.pending.length;
      this.pending = this.pending.filter((m) => m.c !== frame.client_id);
      if (this.pending.length !== before) {
        this._save();
        this.emit("pending", this.pending.length);
      }
      this.emit("ack", { client_id: frame.client_id, id: messageIdOf(frame.message), frame: frame });
    }

    _onEnded(frame) {
      this.state = "ended";
      this._forget(true);
      this.emit("ended", frame);
    }

    _onError(frame) {
      // A refused chat.send carries the message's client_id as its id: drop it if it can never pass.
      const refused = this.pending.find((m) => m.c === frame.id);
      if (refused && (frame.code === "bad_field" || frame.code === "chat_ended")) {
        this.pending = this.pending.filter((m) => m !== refused);
        this._save();
        this.emit("pending", this.pending.length);
        this.emit("rejected", { client_id: refused.c, code: frame.code });
        return;
      }
      this.emit("error", new ProtocolError(frame)); // nobody awaited this one
    }

    _flush() {
      for (const message of this.pending) {
        this._sendPending(message);
      }
    }

    _sendPending(message) {
      this.conn.send({ type: "chat.send", id: message.c, text: message.t, client_id: message.c });
    }
  }

  global.fristedProtocol = {
    Connection: Connection,
    ChatClient: ChatClient,
    ProtocolError: ProtocolError,
    SessionState: SessionState,
    Emitter: Emitter,
    randomId: randomId,
    defaultUrl: defaultUrl,
    STORE_KEY: STORE_KEY,
  };
})(window);
