/* fristed: the browser side of the WebSocket protocol (docs/api.md section 6). No page logic here.

   Two layers, in the spirit of Galène's protocol.js:
   - Connection: one socket to wss://<this host>/ws that reconnects by itself with backoff, typed
     event callbacks (on("chat.message", fn)), send(), and request() that matches a reply or an
     error by the frame's id. Rooms and calls use this layer too.
   - RoomClient: a video room on top of a Connection: lobby, roster, signalling for one
     RTCPeerConnection to the node, ICE restart and rejoin after a drop. The page owns the devices.
   - ChatClient: the citizen's chat on top of a Connection. It keeps the resume token in
     sessionStorage (under a neutral key), resumes after a reload or a lost connection, and resends
     messages the node has not acknowledged, by client_id (the node drops duplicates).
   - CallClient: the citizen's call or call-back (section 9) beside it, sharing the token handling
     (class Conversation); a call that becomes a chat hands its token to the ChatClient. */
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
   * What a chat and a call share (docs/api.md sections 6 and 9): the resume token in sessionStorage
   * under one neutral key (with the kind of conversation it belongs to, "chat" or "call"), the
   * token of the last conversation (`previous`, so a block still holds), the fields of a start
   * frame, resuming after every welcome, quick exit and forgetting. A chat and a call can live on
   * one page; only one of them holds a conversation at a time, and neither touches the other's token.
   * Events of both: "started", "resumed", "state", "ended", "gone" (the resume token no longer works).
   */
  class Conversation extends Emitter {
    constructor(connection, options, kind, frames) {
      super();
      const opts = options || {};
      this.conn = connection;
      this.kind = kind;
      this.frames = frames; // {resume, resumed, exit}: the frame types this kind uses
      this.store = opts.store || new SessionState(opts.storage === undefined ? global.sessionStorage : opts.storage,
                                                  opts.key);
      const saved = this.store.read();
      this.resumeToken = (saved.k || "chat") === kind && typeof saved.r === "string" ? saved.r : null;
      this.previousToken = typeof saved.q === "string" ? saved.q : null;
      this.attached = false; // this socket is bound to our conversation on the node
      this.state = null;
      this.conversation = null;
      this.pseudonym = null;
      this._resuming = false;
      this._offs = [
        connection.on("welcome", () => this._onWelcome()),
        connection.on("close", () => { this.attached = false; this._resuming = false; }),
      ];
    }

    /** The start frame's common fields: danger, name, topic, lang and the last token. */
    _startFrame(type, fields) {
      const frame = { type: type, danger: Boolean(fields.danger) };
      if (fields.name) {
        frame.name = String(fields.name).slice(0, 40);
      }
      if (fields.topic) {
        frame.topic = fields.topic;
      }
      if (fields.lang) {
        frame.lang = fields.lang;
      }
      const previous = this.store.read().q || this.previousToken;
      if (typeof previous === "string" && previous) {
        frame.previous = previous;
      }
      return frame;
    }

    /** What this kind keeps beside the token (a chat: unsent messages). */
    _extra() {
      return {};
    }

    _save(previous) {
      const saved = this.store.read();
      const value = {};
      if (this.resumeToken) {
        value.k = this.kind;
        value.r = this.resumeToken;
        Object.assign(value, this._extra());
      } else if (typeof saved.r === "string" && (saved.k || "chat") !== this.kind) {
        for (const key of ["k", "r", "p", "m"]) { // the other kind's conversation stays as it is
          if (saved[key] !== undefined) {
            value[key] = saved[key];
          }
        }
      } else {
        Object.assign(value, this._extra());
      }
      const q = previous || (typeof saved.q === "string" ? saved.q : null) || this.previousToken;
      if (q) {
        value.q = q;
      }
      this.previousToken = q || null;
      if (Object.keys(value).length) {
        this.store.write(value);
      } else {
        this.store.clear();
      }
    }

    /** The conversation is over for this tab; keepPrevious keeps its token for the next start. */
    _forget(keepPrevious) {
      const previous = keepPrevious && this.resumeToken ? this.resumeToken : null;
      this.resumeToken = null;
      this.attached = false;
      this._save(previous);
    }

    /** Take over a conversation whose token the node has just handed to this kind (call → chat). */
    _adopt(token, frame) {
      this.resumeToken = typeof token === "string" ? token : null;
      this.conversation = (frame && frame.conversation) || this.conversation;
      this.state = "waiting";
      this.attached = true;
      this._save();
    }

    _onWelcome() {
      this.attached = false;
      if (!this.resumeToken) {
        return;
      }
      this._resuming = true;
      const token = this.resumeToken;
      this.conn.request({ type: this.frames.resume, resume: token }, 15000, [this.frames.resumed]).then(() => {
        this._resuming = false;
      }, (err) => {
        this._resuming = false;
        if ((err.code === "unknown_resume" || err.code === "blocked") && this.resumeToken === token) {
          this._forget(err.code === "blocked");
          this.state = null;
          this.emit("gone", err);
        }
      });
    }

    _onStarted(frame) {
      this.resumeToken = typeof frame.resume === "string" ? frame.resume : null;
      this.conversation = frame.conversation || null;
      this.pseudonym = frame.pseudonym || null;
      this.state = frame.state || "waiting";
      this.attached = true;
      this._save();
      this.emit("started", frame);
    }

    _onResumed(frame) {
      this.conversation = frame.conversation || this.conversation;
      this.pseudonym = frame.pseudonym || this.pseudonym;
      this.state = frame.state || this.state;
      this.attached = true;
      this.emit("resumed", frame);
    }

    /**
     * Quick exit: tell the node to end the conversation now (resuming first on a fresh socket) and
     * forget every trace in this tab. The caller navigates away; see Connection.drain().
     */
    quickExit() {
      if (this.resumeToken && this.conn.ready) {
        if (!this.attached && !this._resuming) {
          this.conn.send({ type: this.frames.resume, resume: this.resumeToken });
        }
        this.conn.send({ type: this.frames.exit });
      }
      this.resumeToken = null;
      this.previousToken = null;
      this.attached = false;
      this._quickExitExtra();
      this.store.clear();
    }

    _quickExitExtra() {
      /* a chat also drops its unsent messages */
    }
  }

  /**
   * The citizen's chat. Events (all with the node's frame unless said otherwise):
   * "started", "resumed", "state", "joined", "message", "ack" ({client_id, id, frame}),
   * "deleted", "typing", "ended", "gone" (the resume token no longer works), "letter.stored",
   * "letter.answer", "error" (a ProtocolError nobody awaited), "pending" (count of unacknowledged),
   * "rejected" ({client_id, code}: a message the node refused for good), "open" (the node's
   * {type: "status", open} frame when the opening state changes).
   * Resends messages the node has not acknowledged, by client_id (the node drops duplicates).
   */
  class ChatClient extends Conversation {
    constructor(connection, options) {
      super(connection, options, "chat", { resume: "chat.resume", resumed: "chat.resumed", exit: "chat.quick_exit" });
      const saved = this.store.read();
      this.pending = this.resumeToken && Array.isArray(saved.p)
        ? saved.p.filter((m) => m && m.c && typeof m.t === "string") : [];
      this._offs.push(
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
      );
    }

    /** True when this tab holds a chat (waiting or active). */
    hasChat() {
      return this.resumeToken !== null;
    }

    /** Join the queue. Resolves with chat.started; rejects with ProtocolError (closed, blocked…). */
    start(fields) {
      return this.conn.request(this._startFrame("chat.start", fields), 15000, ["chat.started"]);
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

    _extra() {
      return this.pending.length ? { p: this.pending } : {};
    }

    _quickExitExtra() {
      this.pending = [];
    }

    _forget(keepPrevious) {
      this.pending = [];
      super._forget(keepPrevious);
      this.emit("pending", 0);
    }

    _onStarted(frame) {
      super._onStarted(frame);
      this._flush();
    }

    _onResumed(frame) {
      super._onResumed(frame);
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

  /**
   * The citizen's call or call-back (docs/api.md section 9), beside a ChatClient on the same
   * Connection: a call that turns into a chat hands its token to that ChatClient (`options.chat`).
   * States: "waiting", "scheduled", "ringing", "connected", "ended".
   * Events (with the node's frame): "started", "resumed", "state" (call.state), "incoming" (a
   * call-back rings this page), "connect" (answered: open the room with frame.pass), "declined",
   * "switched" (now a chat; the ChatClient holds the token), "ended", "gone".
   */
  class CallClient extends Conversation {
    constructor(connection, options) {
      super(connection, options, "call", { resume: "call.resume", resumed: "call.resumed", exit: "call.hangup" });
      const opts = options || {};
      const saved = this.store.read();
      this.chat = opts.chat || null;
      this.media = this.resumeToken && saved.m === "audio" ? "audio" : "video";
      this.window = null;     // [from, to] of a call-back
      this._offs.push(
        connection.on("call.started", (f) => this._onStarted(f)),
        connection.on("call.resumed", (f) => this._onResumed(f)),
        connection.on("call.state", (f) => { this.state = f.state || this.state; this.emit("state", f); }),
        connection.on("call.incoming", (f) => { this.state = "ringing"; this.emit("incoming", f); }),
        connection.on("call.connect", (f) => this._onConnect(f)),
        connection.on("call.declined", (f) => this._onDeclined(f)),
        connection.on("call.switched", (f) => this._onSwitched(f)),
        connection.on("call.ended", (f) => this._onEnded(f)),
      );
    }

    /** True when this tab holds a call or a call-back request. */
    hasCall() {
      return this.resumeToken !== null;
    }

    /** Call now ({media: "video"|"audio", danger, name?, topic?, lang?}). Resolves with call.started. */
    start(fields) {
      const frame = this._startFrame("call.start", fields);
      frame.media = fields.media === "audio" ? "audio" : "video";
      return this.conn.request(frame, 15000, ["call.started"]);
    }

    /** Ask to be called back between `from` and `to` (Unix seconds). Resolves with call.started. */
    schedule(fields) {
      const frame = this._startFrame("call.request", fields);
      frame.media = fields.media === "audio" ? "audio" : "video";
      frame.from = Math.floor(fields.from);
      frame.to = Math.floor(fields.to);
      return this.conn.request(frame, 15000, ["call.started"]);
    }

    /** Answer a call-back that rings this page; the node answers with call.connect. */
    answer() {
      return this.conn.request({ type: "call.answer" }, 15000, ["call.connect"]);
    }

    /** Write instead of talking: the call becomes a chat and keeps its place. */
    toChat() {
      return this.conn.request({ type: "call.to_chat" }, 15000, ["call.switched"]);
    }

    /** End the call or the call-back request now. */
    hangup() {
      return this.conn.request({ type: "call.hangup" }, 5000, ["call.ended"]).finally(() => {
        if (this.resumeToken) {
          this._forget(true);
        }
      });
    }

    _extra() {
      return this.resumeToken ? { m: this.media } : {};
    }

    _takeCall(frame) {
      if (frame.media === "audio" || frame.media === "video") {
        this.media = frame.media;
      }
      if (Array.isArray(frame.window) && frame.window.length === 2) {
        this.window = frame.window;
      } else if (frame.window === null) {
        this.window = null;
      }
    }

    _onStarted(frame) {
      this._takeCall(frame);
      super._onStarted(frame);
    }

    _onResumed(frame) {
      this._takeCall(frame);
      if (frame.state === "ended") {
        this.state = "ended";
        this._forget(true);
      }
      super._onResumed(frame);
    }

    _onConnect(frame) {
      // The room pass takes over: the node has spent the call's token and freed this socket.
      this.state = "connected";
      if (this.resumeToken) {
        this._forget(true);
      }
      this.emit("connect", frame);
    }

    _onDeclined(frame) {
      this.state = "ended";
      if (this.resumeToken) {
        this._forget(true);
      }
      this.emit("declined", frame);
    }

    _onSwitched(frame) {
      const token = this.resumeToken;
      this.resumeToken = null;
      this.state = null;
      this.attached = false;
      this._save();
      if (this.chat) {
        this.chat._adopt(token, frame);
        this.chat.pseudonym = this.pseudonym;
      }
      this.emit("switched", frame);
    }

    _onEnded(frame) {
      this.state = "ended";
      if (this.resumeToken) {
        this._forget(true);
      }
      this.emit("ended", frame);
    }
  }

  /* ------------------------------------------------------------------ rooms */

  /** What an invite token says about its holder without checking it: "guest", "host" or null.
      Only a hint for which frame to send (room.knock or room.enter); the node checks the token. */
  function inviteRole(token) {
    if (typeof token !== "string") {
      return null;
    }
    const parts = token.split(".");
    if (parts.length !== 3 || !parts[1]) {
      return null;
    }
    try {
      const first = global.atob(parts[1].slice(0, 4).replace(/-/g, "+").replace(/_/g, "/")).charAt(0);
      return first === "h" ? "host" : first === "g" ? "guest" : null;
    } catch (err) {
      return null;
    }
  }


  /** A roster entry as the page uses it, whatever spelling the node used ({id}|{pid}, admitted|inside). */
  function rosterEntry(p, fallbackState) {
    if (!p || typeof p !== "object") {
      return null;
    }
    const pid = typeof p.pid === "string" ? p.pid : typeof p.id === "string" ? p.id : null;
    if (pid === null) {
      return null;
    }
    const state = p.state === "waiting" ? "waiting" : p.state ? "inside" : fallbackState;
    return {
      pid: pid,
      name: typeof p.name === "string" ? p.name : "",
      role: p.role === "host" ? "host" : "guest",
      state: state,
      camera: p.camera !== false,
      mic: p.mic !== false,
      away: p.away === true, // their connection dropped; the node holds their place for a while
    };
  }

  /** The roster frame as one list: everyone inside, then everyone waiting. */
  function normaliseRoster(frame) {
    const list = [];
    const seen = new Set();
    const add = (p, state) => {
      const entry = rosterEntry(p, state);
      if (entry && !seen.has(entry.pid)) {
        seen.add(entry.pid);
        list.push(entry);
      }
    };
    for (const p of Array.isArray(frame && frame.participants) ? frame.participants : []) {
      add(p, "inside");
    }
    for (const p of Array.isArray(frame && frame.waiting) ? frame.waiting : []) {
      add(p, "waiting");
    }
    return list;
  }

  /**
   * One video room over a Connection: lobby, signalling and one RTCPeerConnection to the node.
   *
   * The page owns the camera and microphone: it hands tracks in with setTrack(kind, track) (null
   * for none) and the client sends them. The first offer carries only what this client publishes
   * (a sendonly audio and a sendonly video m-line, with or without a track, so switching a camera
   * on later needs no renegotiation); everything it receives arrives in offers from the node, one
   * m-line per remote track, whose msid stream id is the remote participant's pid.
   *
   * Recovery: when ICE goes "disconnected" for a moment or "failed", it restarts ICE with a new
   * offer (iceRestart); when that does not bring media back, or the socket was lost and came back,
   * it joins again with the same credentials (resume token if the node gave one, else the invite
   * or the staff session) and a fresh peer connection.
   *
   * States: "idle", "joining", "waiting" (lobby), "inside", "ended".
   * Events: "state" (state), "lobby" (frame), "roster" ([{pid, name, role, state, camera, mic}]),
   * "knocking" ({pid, name}), "admitted" (frame), "text" ({from, name, text, ts, own}),
   * "track" ({pid, kind, track, stream}), "trackended" ({pid, kind, track, stream}),
   * "media" ({state: "connecting"|"connected"|"reconnecting"|"failed"}), "ended" ({kind:
   * "left"|"closed"|"removed"|"declined"|"refused", reason, code}), "error" (ProtocolError),
   * "resume" (the node's newest resume token for this place, to keep for a reload).
   */
  class RoomClient extends Emitter {
    constructor(connection, options) {
      super();
      const opts = options || {};
      this.conn = connection;
      this.PeerConnection = opts.PeerConnection || global.RTCPeerConnection;
      this.restartAfter = opts.restartAfter || 2000;   // ms of "disconnected" before an ICE restart
      this.rejoinAfter = opts.rejoinAfter || 12000;    // ms an ICE restart may take before a full rejoin
      this.answerTimeout = opts.answerTimeout || 10000;
      this.rtcConfig = opts.rtcConfig || {};          // extra RTCConfiguration (iceTransportPolicy …)
      this.state = "idle";
      this.mediaState = "idle";
      this.pid = null;
      this.roomId = null;
      this.title = "";
      this.role = null;          // "host" or "guest" once the node has said so
      this.roster = [];
      this.iceServers = [];
      this.pc = null;
      this.tracks = { audio: null, video: null };
      this.localStream = global.MediaStream ? new global.MediaStream() : null;
      this.remote = new Map();   // pid -> MediaStream of what we receive from them
      this._owner = new WeakMap();  // received track -> the pid it carries now (m-lines are recycled)
      this._watched = new WeakSet();  // tracks and streams we listen on already
      this._join = null;         // {type, fields}: how we got in, to get in again
      this._resume = null;
      this._transceivers = { audio: null, video: null };
      this._chain = Promise.resolve();
      this._offerTimer = 0;
      this._restartTimer = 0;
      this._rejoinTimer = 0;
      this._restarting = false;
      this._restartWanted = false;
      this._socketLost = false;
      this._rejoining = false;
      this._offs = [
        connection.on("room.lobby", (f) => this._onLobby(f)),
        connection.on("room.knocking", (f) => this.emit("knocking", { pid: f.pid || f.id, name: f.name || "" })),
        connection.on("room.admitted", (f) => this._onAdmitted(f)),
        connection.on("room.enter", (f) => this._onAdmitted(f)), // a host is in at once
        connection.on("room.roster", (f) => this._onRoster(f)),
        connection.on("room.offer", (f) => this._serial(() => this._onOffer(f))),
        connection.on("room.answer", (f) => this._serial(() => this._onAnswer(f))),
        connection.on("room.text", (f) => this._onText(f)),
        connection.on("room.rejoin", () => this.state === "inside" && this._rejoin()), // a fresh session
        connection.on("room.closed", (f) => this._end("closed", f)),
        connection.on("room.removed", (f) => this._end("removed", f)),
        connection.on("room.declined", (f) => this._end("declined", f)),
        connection.on("close", () => this._onSocketLost()),
        connection.on("welcome", () => this._onWelcome()),
      ];
    }

    /**
     * Knock with a link ({invite}) or, as staff logged in, with a room id ({room}); `camera` says
     * whether we would like to be on camera. A guest link leads to the lobby (room.lobby), a host
     * link or a staff member straight in (room.enter). Resolves with that frame; rejects with
     * ProtocolError (invite_used, invite_expired, room_full, …).
     */
    knock(fields, name, camera) {
      const frame = this._fields(Object.assign({}, fields), name);
      frame.camera = camera !== false;
      return this._enterWith("room.knock", frame, ["room.lobby", "room.enter", "room.admitted"]);
    }

    /**
     * Come in with a pass (a call's room pass from call.connect, docs/api.md 9.6) or a resume token
     * kept from an earlier visit: room.resume, straight in. Resolves with room.admitted (or
     * room.enter/room.lobby for other tokens); rejects with ProtocolError (unknown_resume, …).
     */
    enterWithPass(token, camera) {
      return this._enterWith("room.resume", { resume: String(token), camera: camera !== false },
                             ["room.admitted", "room.enter", "room.lobby"]);
    }

    /** The token that gets this place back after a drop or a reload (null before the node gave one). */
    get resumeToken() {
      return this._resume;
    }

    /** Use this track (or null) for "audio" or "video" from now on; no renegotiation needed. */
    setTrack(kind, track) {
      const old = this.tracks[kind];
      if (old === track) {
        return Promise.resolve();
      }
      if (this.localStream) {
        if (old) {
          this.localStream.removeTrack(old);
        }
        if (track) {
          this.localStream.addTrack(track);
        }
      }
      this.tracks[kind] = track || null;
      const transceiver = this._transceivers[kind];
      if (transceiver && transceiver.sender) {
        return transceiver.sender.replaceTrack(track || null).catch((err) => {
          global.console.error("fristed: replaceTrack failed", err);
        });
      }
      return Promise.resolve();
    }

    /** Tell everyone whether our camera and microphone are on. */
    setMedia(camera, mic) {
      if (this._join) {
        this._join.fields.camera = Boolean(camera);
      }
      if (this.state === "inside" || this.state === "waiting") {
        this.conn.send({ type: "room.media", camera: Boolean(camera), mic: Boolean(mic) });
      }
    }

    /** Write in the room's chat; resolves true when sent. */
    sendText(text) {
      return this.conn.send({ type: "room.text", text: String(text) });
    }

    admit(pid) {
      return this.conn.request({ type: "room.admit", pid: pid }, 10000, ["room.ok"]).catch((err) => this._refused(err));
    }

    decline(pid, reason) {
      const frame = { type: "room.decline", pid: pid };
      if (reason) {
        frame.reason = String(reason).slice(0, 200);
      }
      return this.conn.request(frame, 10000, ["room.ok"]).catch((err) => this._refused(err));
    }

    remove(pid, reason) {
      const frame = { type: "room.remove", pid: pid };
      if (reason) {
        frame.reason = String(reason).slice(0, 200);
      }
      return this.conn.request(frame, 10000, ["room.ok"]).catch((err) => this._refused(err));
    }

    /** Leave at once: the peer connection closes before the node has even heard of it. */
    leave() {
      if (this.state !== "idle" && this.state !== "ended") {
        this.conn.send({ type: "room.leave" });
      }
      this._end("left", {});
    }

    /** The peer connection's statistics, or null before there is one. */
    stats() {
      return this.pc ? this.pc.getStats() : Promise.resolve(null);
    }

    /** Name of a participant in the last roster, or "". */
    nameOf(pid) {
      const entry = this.roster.find((p) => p.pid === pid);
      return entry ? entry.name : "";
    }

    /* -------------------------------------------------------------- joining */

    _fields(fields, name) {
      if (name) {
        fields.name = String(name).slice(0, 40);
      }
      return fields;
    }

    _enterWith(type, fields, replies) {
      this._join = { type: type, fields: fields, replies: replies };
      this._setState("joining");
      return this.conn.request(Object.assign({ type: type }, fields), 15000, replies).then((reply) => {
        if (reply === null) {
          throw new ProtocolError({ code: "timeout", reason: "the node did not answer" });
        }
        return reply;
      }, (err) => {
        if (this.state === "joining") {
          this._setState("idle");
        }
        throw err;
      });
    }

    _setState(state) {
      if (this.state !== state) {
        this.state = state;
        this.emit("state", state);
      }
    }

    _setMedia(state) {
      if (this.mediaState !== state) {
        this.mediaState = state;
        this.emit("media", { state: state });
      }
    }

    _refused(err) {
      this.emit("error", err);
      return null;
    }

    _onLobby(frame) {
      this._takeRoom(frame);
      if (frame.pid || frame.id) {
        this.pid = frame.pid || frame.id;
      }
      if (this.state !== "inside") {
        this._setState("waiting");
      }
      this.emit("lobby", frame);
      if (frame.roster || frame.participants) {
        this._onRoster(frame.roster || frame);
      }
    }

    _takeRoom(frame) {
      const room = frame.room;
      if (typeof room === "string") {
        this.roomId = room;
      } else if (room && typeof room === "object") {
        this.roomId = room.id || room.room || this.roomId;
        this.title = room.title || this.title;
      }
      if (typeof frame.title === "string") {
        this.title = frame.title;
      }
      if (typeof frame.resume === "string" && frame.resume !== this._resume) {
        this._resume = frame.resume;
        this.emit("resume", frame.resume);
      }
    }

    _onAdmitted(frame) {
      this._takeRoom(frame);
      this.pid = frame.pid || frame.id || this.pid;
      if (frame.role === "host" || frame.role === "guest") {
        this.role = frame.role;
      }
      this.iceServers = Array.isArray(frame.iceServers) ? frame.iceServers : [];
      this._setState("inside");
      this.emit("admitted", frame);
      if (frame.roster || frame.participants) {
        this._onRoster(frame.roster || frame);
      }
      if (frame.kept === true && this.pc) { // our place and media, kept while the socket was gone
        this._restarting = false;
        global.clearTimeout(this._rejoinTimer);
        if (this.pc.connectionState === "connected") {
          this._setMedia("connected");
        } else {
          this._restart(0);
        }
        return;
      }
      this._serial(() => this._startPeer());
    }

    _onRoster(frame) {
      this._takeRoom(frame);
      this.roster = normaliseRoster(frame);
      const me = this.roster.find((p) => p.pid === this.pid);
      if (me && !this.role) {
        this.role = me.role;
      }
      this.emit("roster", this.roster);
    }

    _onText(frame) {
      const from = typeof frame.from === "string" ? frame.from : "";
      const name = frame.name || this.nameOf(from) || from;
      this.emit("text", {
        from: from,
        name: name,
        text: typeof frame.text === "string" ? frame.text : "",
        ts: typeof frame.ts === "number" ? frame.ts : Date.now() / 1000,
        own: from !== "" && from === this.pid,
      });
    }

    _end(kind, frame) {
      if (this.state === "ended") {
        return;
      }
      this._setState("ended");
      this._closePeer();
      this.emit("ended", { kind: kind, reason: (frame && (frame.reason || "")) || "", code: frame && frame.code });
    }

    /* -------------------------------------------------------------- media */

    _serial(task) {
      this._chain = this._chain.then(task).catch((err) => {
        global.console.error("fristed: room signalling step failed", err);
      });
      return this._chain;
    }

    _startPeer() {
      this._closePeer();
      const config = Object.assign({ bundlePolicy: "max-bundle" }, this.rtcConfig, { iceServers: this.iceServers });
      const pc = new this.PeerConnection(config);
      this.pc = pc;
      this._setMedia("connecting");
      const streams = this.localStream ? [this.localStream] : [];
      for (const kind of ["audio", "video"]) {
        this._transceivers[kind] = pc.addTransceiver(this.tracks[kind] || kind,
                                                     { direction: "sendonly", streams: streams });
      }
      pc.ontrack = (event) => this._onTrack(pc, event);
      pc.onconnectionstatechange = () => this._onPeerState(pc);
      pc.oniceconnectionstatechange = () => this._onPeerState(pc);
      return this._offer(false);
    }

    _closePeer() {
      global.clearTimeout(this._offerTimer);
      global.clearTimeout(this._restartTimer);
      global.clearTimeout(this._rejoinTimer);
      this._restarting = false;
      this._restartWanted = false;
      if (this.pc) {
        const pc = this.pc;
        this.pc = null;
        pc.ontrack = null;
        pc.onconnectionstatechange = null;
        pc.oniceconnectionstatechange = null;
        try {
          pc.close();
        } catch (err) {
          /* closed already */
        }
      }
      this._transceivers = { audio: null, video: null };
      for (const [pid, stream] of this.remote) {
        for (const track of stream.getTracks()) {
          stream.removeTrack(track);
          this.emit("trackended", { pid: pid, kind: track.kind, track: track, stream: stream });
        }
      }
      this.remote.clear();
      if (this.mediaState !== "idle") {
        this._setMedia("idle");
      }
    }

    async _offer(iceRestart) {
      const pc = this.pc;
      if (!pc || pc.signalingState !== "stable") {
        this._restartWanted = this._restartWanted || iceRestart;
        return;
      }
      const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : {});
      await pc.setLocalDescription(offer);
      const rollback = () => this._serial(async () => {
        if (this.pc === pc && pc.signalingState === "have-local-offer") {
          await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
        }
      });
      // The answer itself is applied by the "room.answer" listener; this only watches for trouble.
      // recycle: the node may put a new publisher's track on an m-line whose publisher left
      // (_onTrack takes it: the same receiver track, a new stream), so the session does not grow
      const frame = iceRestart ? { type: "room.offer", sdp: pc.localDescription.sdp }
        : { type: "room.offer", sdp: pc.localDescription.sdp, recycle: true };
      this.conn.request(frame, this.answerTimeout, ["room.answer"]).then((reply) => {
        if (reply === null) {
          rollback(); // no answer: let the node's own offers through, and try the next step
          if (iceRestart && this.pc === pc) {
            this._rejoin();
          }
        }
      }, (err) => {
        rollback();
        if (this.pc !== pc) {
          return;
        }
        if (err.code === "offline" || err.code === "closed") {
          return; // the rejoin after the socket is back takes over
        }
        if (err.code === "glare") {
          return; // the node's own offer came first: answering it makes the restart again (_onOffer)
        }
        if (iceRestart) {
          this._rejoin(); // the node cannot restart this session: get in again instead
        } else {
          this._setMedia("failed");
          this.emit("error", err);
        }
      });
    }

    async _onAnswer(frame) {
      const pc = this.pc;
      if (!pc || pc.signalingState !== "have-local-offer" || typeof frame.sdp !== "string") {
        return;
      }
      global.clearTimeout(this._offerTimer);
      await pc.setRemoteDescription({ type: "answer", sdp: frame.sdp });
      this._sweep(pc);
      await this._afterStable();
    }

    async _onOffer(frame) {
      const pc = this.pc;
      if (!pc || typeof frame.sdp !== "string") {
        return;
      }
      if (pc.signalingState === "have-local-offer") {
        // Both sides offered at once: the node wins; our ICE restart is made again afterwards.
        global.clearTimeout(this._offerTimer);
        this._restartWanted = this._restartWanted || this._restarting;
        await pc.setLocalDescription({ type: "rollback" });
      }
      await pc.setRemoteDescription({ type: "offer", sdp: frame.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      this.conn.send({ type: "room.answer", sdp: pc.localDescription.sdp });
      this._sweep(pc);
      await this._afterStable();
    }

    async _afterStable() {
      if (this._restartWanted && this.pc && this.pc.signalingState === "stable") {
        this._restartWanted = false;
        await this._offer(true);
      }
    }

    _onTrack(pc, event) {
      if (pc !== this.pc) {
        return;
      }
      const origin = event.streams && event.streams[0];
      const pid = origin ? origin.id : "";
      const track = event.track;
      for (const [other, was] of this.remote) {
        if (other !== pid && was.getTracks().includes(track)) {
          this._dropTrack(other, track); // a recycled m-line: its track now carries someone else
        }
      }
      let stream = this.remote.get(pid);
      if (!stream) {
        stream = new global.MediaStream();
        this.remote.set(pid, stream);
      }
      for (const old of stream.getTracks()) {
        if (old.kind === track.kind && old !== track) {
          stream.removeTrack(old); // a new m-line for the same publisher replaces the old one
          this.emit("trackended", { pid: pid, kind: old.kind, track: old, stream: stream });
        }
      }
      stream.addTrack(track);
      // A recycled m-line fires ontrack again with the same track: listen once per track and once
      // per stream, and look up whose it is now when the event comes.
      this._owner.set(track, pid);
      if (!this._watched.has(track)) {
        this._watched.add(track);
        track.addEventListener("ended", () => this._dropTrack(this._owner.get(track), track));
      }
      if (origin && !this._watched.has(origin)) {
        this._watched.add(origin);
        origin.addEventListener("removetrack", (e) => {
          if (this._owner.get(e.track) === origin.id) {
            this._dropTrack(origin.id, e.track);
          }
        });
      }
      this.emit("track", { pid: pid, kind: track.kind, track: track, stream: stream });
    }

    _dropTrack(pid, track) {
      const stream = this.remote.get(pid);
      if (!stream || !stream.getTracks().includes(track)) {
        return;
      }
      stream.removeTrack(track);
      this.emit("trackended", { pid: pid, kind: track.kind, track: track, stream: stream });
    }

    /** After a negotiation: tracks whose m-line went inactive are gone. */
    _sweep(pc) {
      for (const t of pc.getTransceivers()) {
        if (t === this._transceivers.audio || t === this._transceivers.video) {
          continue;
        }
        const dir = t.currentDirection;
        if (t.receiver && t.receiver.track && (dir === "inactive" || dir === "sendonly" || t.stopped)) {
          for (const [pid, stream] of this.remote) {
            if (stream.getTracks().includes(t.receiver.track)) {
              this._dropTrack(pid, t.receiver.track);
            }
          }
        }
      }
    }

    _onPeerState(pc) {
      if (pc !== this.pc) {
        return;
      }
      const ice = pc.iceConnectionState;
      const state = pc.connectionState;
      if (state === "connected" || ice === "connected" || ice === "completed") {
        global.clearTimeout(this._restartTimer);
        global.clearTimeout(this._rejoinTimer);
        this._restarting = false;
        this._setMedia("connected");
        return;
      }
      if (state === "failed" || ice === "failed") {
        this._restart(0);
      } else if (ice === "disconnected" || state === "disconnected") {
        this._restart(this.restartAfter);
      }
    }

    /** ICE restart after `delay` ms (unless media comes back first); a full rejoin if that fails too. */
    _restart(delay) {
      if (this._restarting || this.state !== "inside") {
        return;
      }
      this._setMedia("reconnecting");
      global.clearTimeout(this._restartTimer);
      this._restartTimer = global.setTimeout(() => {
        const pc = this.pc;
        if (!pc || pc.connectionState === "connected" || this.state !== "inside") {
          return;
        }
        this._restarting = true;
        this._serial(() => this._offer(true));
        global.clearTimeout(this._rejoinTimer);
        this._rejoinTimer = global.setTimeout(() => {
          if (this.pc === pc && pc.connectionState !== "connected") {
            this._rejoin();
          }
        }, this.rejoinAfter);
      }, delay);
    }

    _onSocketLost() {
      if (this.state === "inside" || this.state === "waiting") {
        this._socketLost = true;
        this._setMedia("reconnecting");
      }
    }

    _onWelcome() {
      if (this._socketLost && (this.state === "inside" || this.state === "waiting")) {
        this._socketLost = false;
        if (this.state === "inside" && this.pc && this._resume) {
          this._takeBack();
        } else {
          this._rejoin();
        }
      }
    }

    /**
     * After a lost socket, with the peer connection still here: the same place back (room.resume
     * with keep). The node holds it for a while (node.room_service.SEAT_HOLD); its reply says
     * "kept", and _onAdmitted restarts ICE on this connection. Too late, and the reply is a fresh
     * place with a new peer connection instead.
     */
    _takeBack() {
      if (this._rejoining || this.state === "ended") {
        return;
      }
      this._rejoining = true;
      const camera = this._join ? this._join.fields.camera !== false : true;
      this.conn.request({ type: "room.resume", resume: this._resume, keep: true, camera: camera }, 15000,
                        ["room.admitted", "room.enter", "room.lobby"]).then((reply) => {
        this._rejoining = false;
        if (reply === null && this.state !== "ended") {
          this._rejoin();
        }
      }, (err) => {
        this._rejoining = false;
        if (err.code === "offline" || err.code === "closed") {
          this._socketLost = true; // try again on the next welcome
          return;
        }
        this._rejoin(); // the place has lapsed: _rejoin says so (unknown_resume) or gets in afresh
      });
    }

    /**
     * Get in again with what got us in before (resume token if the node gave one, else the link or
     * the staff session), with a fresh peer connection. On the same socket we leave first.
     */
    async _rejoin() {
      if (!this._join || this.state === "ended" || this._rejoining) {
        return;
      }
      this._rejoining = true;
      this._closePeer();
      this._setMedia("reconnecting");
      if (!this._socketLost && this.conn.ready) {
        await this.conn.request({ type: "room.leave" }, 5000, ["room.left"]).catch(() => null);
      }
      this._setState("joining");
      const fields = Object.assign({}, this._join.fields);
      let type = this._join.type;
      if (this._resume) {
        type = "room.resume";
        for (const key of Object.keys(fields)) {
          if (key !== "name" && key !== "camera") {
            delete fields[key];
          }
        }
        fields.resume = this._resume;
      }
      this.conn.request(Object.assign({ type: type }, fields), 15000, this._join.replies).then((reply) => {
        this._rejoining = false;
        if (reply === null && this.state !== "ended") {
          global.setTimeout(() => this._rejoin(), 3000);
        }
      }, (err) => {
        this._rejoining = false;
        if (err.code === "offline" || err.code === "closed") {
          this._socketLost = true; // try again on the next welcome
          return;
        }
        this._end("refused", { reason: err.message, code: err.code });
      });
    }
  }

  global.fristedProtocol = {
    Connection: Connection,
    ChatClient: ChatClient,
    CallClient: CallClient,
    Conversation: Conversation,
    ProtocolError: ProtocolError,
    SessionState: SessionState,
    Emitter: Emitter,
    RoomClient: RoomClient,
    inviteRole: inviteRole,
    normaliseRoster: normaliseRoster,
    randomId: randomId,
    defaultUrl: defaultUrl,
    STORE_KEY: STORE_KEY,
  };
})(window);
