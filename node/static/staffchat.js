/* fristed: the staff desk (queue, conversations, notes, alerts) on top of /ws.
   Needs /static/api.js and /static/ui.js. The WebSocket itself is opened through /static/protocol.js
   (the shared browser client); this file holds page logic only. staff.js calls fristedDesk.start()
   after login and fristedDesk.stop() at logout. The protocol is docs/api.md section 6. */
"use strict";

(function (global) {
  const api = global.fristedApi;

  const ROLES = { admin: "administrator", staff: "medarbejder", volunteer: "frivillig" };
  const REPEAT_MS = 20000;        // alerts ring again until acknowledged
  const TYPING_SEND_MS = 4000;    // at most one "typing" frame per 4 s while typing
  const TYPING_IDLE_MS = 5000;    // "stopped typing" after 5 s without a keystroke
  const TYPING_SHOW_MS = 12000;   // hide the other side's indicator if no update came
  const SESSION_ENDED = 4001;     // close code: the node ended this login (logout, expiry, disabled)
  const ERRORS = {
    already_taken: "En anden har allerede taget samtalen.",
    queue_empty: "Der er ingen i køen lige nu.",
    not_on_duty: "Du skal være på vagt for at tage samtaler.",
    not_yours: "Samtalen er ikke din længere.",
    unknown_conversation: "Samtalen findes ikke længere.",
    chat_ended: "Samtalen er allerede slut.",
    not_in_chat: "Du er ikke med i den samtale.",
    rate_limited: "Du sender for hurtigt. Vent et øjeblik, og prøv igen.",
    forbidden: "Det har din rolle ikke adgang til.",
    bad_field: "Noget af det, du skrev, kunne ikke bruges.",
    closed: "Der er lukket lige nu.",
    internal: "Fristed kunne ikke gøre det. Intet er ændret. Prøv igen.",
  };
  const CLOSE_REASONS = {
    ended: "Samtalen er afsluttet.",
    transferred: "Samtalen er overdraget.",
    transfer: "Samtalen er overdraget.",
    requeued: "Samtalen er sat tilbage i køen.",
    requeue: "Samtalen er sat tilbage i køen.",
    left: "Borgeren har forladt samtalen.",
    quick_exit: "Borgeren har forladt samtalen.",
    blocked: "Samtalen er afsluttet, og borgeren er blokeret.",
    lost: "Forbindelsen til borgeren var væk for længe. Samtalen er slut.",
    timeout: "Samtalen er slut, fordi der ikke skete noget i lang tid.",
  };
  const PRESENCE = {
    connected: "Borgeren er forbundet.",
    lost: "Forbindelsen til borgeren er væk. Borgeren kan komme tilbage.",
    left: "Borgeren har forladt samtalen.",
  };

  /* ------------------------------------------------------------------ small helpers */

  const { byId: $, make, key, clockTime, duration } = global.fristedUi;

  function newId(prefix) {
    const bytes = new Uint8Array(6);
    crypto.getRandomValues(bytes);
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /* ------------------------------------------------------------------ the socket
     /static/protocol.js is the one WebSocket client for every page (reconnects with back-off,
     keeps the link alive with pings). The desk listens to every frame and sends frames with its
     own ids, so that errors can be matched to what the person clicked. */

  function openLink(handlers) {
    const P = global.fristedProtocol;
    if (!P || typeof P.Connection !== "function") {
      return null;
    }
    const conn = new P.Connection();
    conn.on("frame", handlers.onframe);
    conn.on("status", function (status) {
      if (status.state === "open") {
        handlers.onopen();
      }
    });
    conn.on("close", handlers.onclose);
    conn.connect();
    return conn;
  }

  /* ------------------------------------------------------------------ alerts: sound, title, notification */

  const alerter = {
    audio: null,
    flashTimer: null,
    repeatTimer: null,
    baseTitle: document.title,
    flashOn: false,
    flashes: new Map(),  // source ("desk", "calls") -> text; the title flashes while any is set

    unlock: function () {
      const AC = global.AudioContext || global.webkitAudioContext;
      if (!AC) {
        return false;
      }
      try {
        if (!this.audio) {
          this.audio = new AC();
        }
        if (this.audio.state === "suspended") {
          this.audio.resume();
        }
      } catch (err) {
        return false;
      }
      return true;
    },

    // A short two-tone chime, or three higher beeps when someone is in danger or needs help.
    ring: function (urgent) {
      if (!this.audio || this.audio.state !== "running") {
        return;
      }
      const ctx = this.audio;
      const tones = urgent ? [[988, 0], [988, 0.22], [988, 0.44], [1319, 0.7]] : [[880, 0], [660, 0.3]];
      for (const [freq, at] of tones) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.value = freq;
        const t = ctx.currentTime + at;
        gain.gain.setValueAtTime(0.0001, t);
        gain.gain.exponentialRampToValueAtTime(0.35, t + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.2);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t);
        osc.stop(t + 0.22);
      }
    },

    notify: function (title, body, tag) {
      if (!("Notification" in global) || Notification.permission !== "granted") {
        return;
      }
      try {
        const n = new Notification(title, { body: body, tag: tag, renotify: true, requireInteraction: true });
        n.addEventListener("click", function () {
          global.focus();
          n.close();
        });
        return n;
      } catch (err) {
        return null; /* some browsers only allow notifications from a service worker */
      }
    },

    /** Flash the tab's title with `text` for `source` until unflash(source); calls go first. */
    flash: function (source, text) {
      this.flashes.set(source, text);
      this.flashText = this.flashes.get("calls") || text;
      if (this.flashTimer) {
        return;
      }
      const self = this;
      this.flashTimer = setInterval(function () {
        self.flashOn = !self.flashOn;
        document.title = self.flashOn ? "(!) " + self.flashText : self.baseTitle;
      }, 1000);
      document.title = "(!) " + this.flashText;
      this.flashOn = true;
    },

    unflash: function (source) {
      this.flashes.delete(source);
      if (this.flashes.size) {
        this.flashText = this.flashes.get("calls") || this.flashes.values().next().value;
        return;
      }
      clearInterval(this.flashTimer);
      this.flashTimer = null;
      document.title = this.baseTitle;
    },

    startFlash: function (text) {
      this.flash("desk", text);
    },

    stopFlash: function () {
      this.unflash("desk");
    },

    stopAll: function () {
      this.flashes.clear();
      this.unflash("desk");
    },
  };

  /* ------------------------------------------------------------------ the desk */

  function Desk(account, csrf, onSignedOut) {
    this.me = account;
    this.csrf = csrf;
    this.onSignedOut = onSignedOut;
    this.link = null;
    this.connected = false;
    this.duty = false;
    this.dutyKnown = false;
    this.queue = [];
    this.queueAt = performance.now();
    this.onDuty = [];
    this.lettersCount = 0;
    this.letters = [];
    this.convs = new Map();         // key -> conversation state
    this.order = [];                // tab order (keys)
    this.active = null;
    this.canned = [];
    this.topics = [];
    this.alerts = new Map();        // key -> alert
    this.requests = new Map();      // frame id -> what it was for
    this.timers = [];
    this.typingOut = { conv: null, last: 0, idle: null };
    this.resync = false;
    this.stopped = false;
    this.bound = [];
    this.calls = null;              // staffcalls.js: ringing calls, the call itself, roster, handover
  }

  Desk.prototype.start = function () {
    this.bindUi();
    this.renderAll();
    this.loadReference();
    const self = this;
    this.link = openLink({
      onopen: function () { self.onOpen(); },
      onframe: function (frame) { self.onFrame(frame); },
      onclose: function (info) { self.onClose(info); },
    });
    if (!this.link) {
      this.say("Siden kunne ikke indlæses helt. Genindlæs siden.", "error");
      return;
    }
    if (global.fristedCalls) {
      this.calls = global.fristedCalls.create(this, alerter);
    }
    this.timers.push(setInterval(function () { self.tick(); }, 1000));
    this.timers.push(setInterval(function () { self.repeatAlerts(); }, REPEAT_MS));
    this.showConnection("Forbinder …", "");
  };

  Desk.prototype.stop = function () {
    this.stopped = true;
    if (this.calls) {
      this.calls.stop();
      this.calls = null;
    }
    if (this.link) {
      this.link.close();
      this.link = null;
    }
    for (const t of this.timers) {
      clearInterval(t);
    }
    this.timers = [];
    for (const [target, type, fn] of this.bound) {
      target.removeEventListener(type, fn);
    }
    this.bound = [];
    clearTimeout(this.typingOut.idle);
    this.alerts.clear();
    alerter.stopAll();
    $("connection").hidden = true;
    $("tabs").textContent = "";
    $("queue-list").textContent = "";
    $("letters-list").textContent = "";
    $("conversation").hidden = true;
    $("alerts").hidden = true;
    $("offduty-choice").hidden = true;
  };

  Desk.prototype.on = function (target, type, fn) {
    const self = this;
    const wrapped = function (event) { return fn.call(self, event); };
    target.addEventListener(type, wrapped);
    this.bound.push([target, type, wrapped]);
  };

  Desk.prototype.send = function (frame, context) {
    if (context) {
      frame.id = newId("r");
      this.requests.set(frame.id, context);
    }
    if (!this.link || !this.link.send(frame)) {
      if (context) {
        this.requests.delete(frame.id);
      }
      this.say("Der er ingen forbindelse til Fristed lige nu. Prøv igen om lidt.", "error");
      return false;
    }
    return true;
  };

  /** The take, join or reopen request that a chat.opened answers (the node does not echo ids there). */
  Desk.prototype.claimRequest = function (conversation) {
    const k = key(conversation);
    let match = null;
    for (const [id, r] of this.requests) {
      if (r.kind !== "take" && r.kind !== "join" && r.kind !== "reopen") {
        continue;
      }
      if (r.conversation !== null && r.conversation !== undefined && key(r.conversation) === k) {
        match = [id, r];
        break;
      }
      if ((r.conversation === null || r.conversation === undefined) && match === null) {
        match = [id, r];
      }
    }
    if (match === null) {
      return null;
    }
    this.requests.delete(match[0]);
    return match[1];
  };

  Desk.prototype.say = function (text, kind, detail) {
    const status = $("status");
    status.className = "status" + (kind ? " is-" + kind : "");
    status.textContent = text;
    if (detail) {
      const span = make("span", "detail", detail);
      span.lang = "en";
      status.appendChild(span);
    }
  };

  Desk.prototype.announce = function (text) {
    const box = $("announce");
    box.textContent = "";
    setTimeout(function () { box.textContent = text; }, 50);
  };

  Desk.prototype.showConnection = function (text, kind) {
    const box = $("connection");
    box.hidden = false;
    box.className = "connection" + (kind ? " is-" + kind : "");
    box.textContent = text;
  };

  /* ---------------------------------------------------------------- reference data over HTTP */

  Desk.prototype.loadReference = async function () {
    const [canned, status] = await Promise.all([api.getJSON("/api/chat/canned"), api.getJSON("/api/chat/status")]);
    if (canned.status === 200 && canned.data && Array.isArray(canned.data.canned)) {
      this.canned = canned.data.canned.filter((c) => c && typeof c.text === "string");
    }
    if (status.status === 200 && status.data && Array.isArray(status.data.topics)) {
      this.topics = status.data.topics.filter((t) => typeof t === "string");
    }
    this.renderCanned();
    this.renderTopics();
  };

  Desk.prototype.renderCanned = function () {
    const select = $("canned-select");
    select.textContent = "";
    if (!this.canned.length) {
      select.appendChild(make("option", null, "(ingen standardsvar)"));
      select.disabled = true;
      $("canned-insert").disabled = true;
      return;
    }
    select.disabled = false;
    $("canned-insert").disabled = false;
    this.canned.forEach(function (c, i) {
      const option = make("option", null, c.title || c.text.slice(0, 40));
      option.value = String(i);
      select.appendChild(option);
    });
  };

  Desk.prototype.renderTopics = function () {
    const select = $("end-topic");
    const current = select.value;
    select.textContent = "";
    // The node accepts only the centre's own topics; "Andet" stands in if they could not be read.
    const topics = this.topics.length ? this.topics.slice() : ["Andet"];
    for (const t of topics) {
      const option = make("option", null, t);
      option.value = t;
      select.appendChild(option);
    }
    if (current) {
      select.value = current;
    }
  };

  /* ---------------------------------------------------------------- connection life */

  Desk.prototype.onOpen = function () {
    this.connected = true;
    this.showConnection("Forbundet", "ok");
    this.renderDuty();
    this.renderQueue();
    if (this.calls) {
      this.calls.onOpen();
      this.calls.renderRings();
      this.calls.renderCallbacks();
    }
  };

  Desk.prototype.signedOut = function () {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    if (this.onSignedOut) {
      this.onSignedOut("Du er blevet logget ud. Log ind igen.");
    }
  };

  Desk.prototype.onClose = async function (info) {
    if (info && info.code === SESSION_ENDED) {
      this.signedOut();
      return;
    }
    this.connected = false;
    this.dutyKnown = false;
    this.requests.clear(); // their answers will not come on this socket
    this.busy = false;
    this.showConnection("Forbindelsen er væk – prøver igen …", "error");
    this.renderDuty();
    this.renderQueue();
    if (this.calls) {
      this.calls.renderRings();
      this.calls.renderCallbacks();
    }
    // A refused upgrade looks like a plain close in the browser: check whether the session ended.
    const me = await api.getJSON("/api/me");
    if (me.status === 401) {
      this.signedOut();
    }
  };

  Desk.prototype.onFrame = function (frame) {
    if (this.calls && frame.type !== "error") {
      this.calls.onFrame(frame);
      const request = frame.id ? this.requests.get(frame.id) : null;
      if (request && request.calls) {
        this.requests.delete(frame.id); // answered
      }
    }
    const handler = FRAMES[frame.type];
    if (handler) {
      handler.call(this, frame);
    }
  };

  const FRAMES = {
    welcome: function (frame) {
      if (frame.role === "citizen") {
        // The session is gone (expired, logged out elsewhere): the socket is anonymous now.
        this.signedOut();
        return;
      }
      // The next "mine" re-opens every conversation, so messages missed while away are shown.
      this.resync = true;
      // Messages not yet acknowledged are sent again with the same client_id, which the node
      // acknowledges without storing a duplicate.
      for (const conv of this.convs.values()) {
        if (conv.closed) {
          continue;
        }
        for (const [clientId, p] of conv.pending) {
          this.send({ type: "chat.send", conversation: conv.ref, text: p.text, client_id: clientId });
        }
      }
    },

    duty: function (frame) {
      this.duty = !!frame.on;
      this.dutyKnown = true;
      if (!this.duty) {
        $("offduty-choice").hidden = true;
      }
      this.renderDuty();
      this.renderQueue();
    },

    queue: function (frame) {
      const items = Array.isArray(frame.items) ? frame.items : [];
      const keys = new Set(items.map((i) => key(i.conversation)));
      // An alert about a newcomer is moot once someone has taken them.
      for (const [k, a] of this.alerts) {
        if (a.kind === "new" && !keys.has(key(a.conversation))) {
          this.alerts.delete(k);
        }
      }
      this.queue = items;
      this.queueAt = performance.now();
      this.onDuty = Array.isArray(frame.on_duty) ? frame.on_duty : [];
      const before = this.lettersCount;
      this.lettersCount = Number(frame.letters) || 0;
      this.renderQueue();
      this.renderLettersCount();
      this.renderAlerts();
      if (this.lettersCount !== before && !$("letters-panel").hidden) {
        this.send({ type: "letters.list" });
      }
    },

    mine: function (frame) {
      const list = Array.isArray(frame.conversations) ? frame.conversations : [];
      const keys = new Set();
      for (const c of list) {
        const k = key(c.conversation);
        keys.add(k);
        let conv = this.convs.get(k);
        const known = !!conv;
        if (!conv) {
          conv = this.addConversation(c);
        } else {
          conv.role = c.role || conv.role;
          conv.risk = !!c.risk;
        }
        conv.kind = c.kind || conv.kind || "chat";
        conv.media = c.media || conv.media || null;
        if (!known || this.resync) {
          // After a page reload or a reconnect: fetch the whole transcript and notes again.
          this.send({ type: "chat.open", conversation: c.conversation }, { kind: "reopen", conversation: c.conversation });
        }
      }
      this.resync = false;
      for (const conv of this.convs.values()) {
        if (!keys.has(conv.key) && !conv.closed && conv.loaded) {
          this.closeConversation(conv, null);
        }
      }
      if (this.active === null && this.order.length) {
        this.active = this.order[0];
      }
      this.renderTabs();
      this.renderConversation();
    },

    "chat.opened": function (frame) {
      const request = this.claimRequest(frame.conversation);
      const existed = this.convs.has(key(frame.conversation));
      const conv = this.addConversation(frame);
      conv.pseudonym = frame.pseudonym || conv.pseudonym;
      conv.topic = frame.topic || null;
      conv.risk = !!frame.risk;
      conv.role = frame.role || conv.role || "owner";
      conv.citizen = frame.citizen || "connected";
      conv.closed = null;
      conv.messages = new Map();
      for (const m of frame.messages || []) {
        conv.messages.set(m.id, m);
      }
      conv.notes = Array.isArray(frame.notes) ? frame.notes.slice() : [];
      conv.loaded = true;
      this.setBusy(false);
      const own = request !== null && request.kind !== "reopen";
      this.alerts.delete("escalation:" + conv.key);
      if (own || this.active === null) {
        this.activate(conv.key, own);
      } else if (!existed) {
        conv.unread += 1;
        this.announce("Ny samtale åbnet: " + conv.pseudonym);
      }
      if (own) {
        this.say("Du har nu samtalen med " + conv.pseudonym + ".", "ok");
      }
      this.renderTabs();
      this.renderConversation();
      this.renderAlerts();
    },

    "chat.message": function (frame) {
      const conv = this.convs.get(key(frame.conversation));
      if (!conv || !frame.message) {
        return;
      }
      conv.messages.set(frame.message.id, frame.message);
      if (frame.message.from === "citizen") {
        conv.typing = false;
      }
      if (conv.key !== this.active || document.hidden) {
        if (frame.message.from !== "staff" || frame.message.author !== this.me.name) {
          conv.unread += conv.key !== this.active ? 1 : 0;
          if (conv.key !== this.active) {
            this.announce("Ny besked fra " + conv.pseudonym);
          }
        }
      }
      this.renderTabs();
      if (conv.key === this.active) {
        this.renderMessages(conv);
        this.renderTyping(conv);
      }
    },

    "chat.ack": function (frame) {
      const conv = this.convs.get(key(frame.conversation));
      if (!conv) {
        return;
      }
      conv.pending.delete(frame.client_id);
      if (frame.message && typeof frame.message === "object") {
        conv.messages.set(frame.message.id, frame.message);
      }
      if (conv.key === this.active) {
        this.renderMessages(conv);
      }
    },

    "chat.deleted": function (frame) {
      const conv = this.convs.get(key(frame.conversation));
      if (!conv) {
        return;
      }
      const m = conv.messages.get(frame.message);
      if (m) {
        m.deleted = true;
        m.text = "";
      }
      if (conv.key === this.active) {
        this.renderMessages(conv);
      }
    },

    "chat.typing": function (frame) {
      const conv = this.convs.get(key(frame.conversation));
      if (!conv) {
        return;
      }
      conv.typing = !!frame.active;
      conv.typingAt = performance.now();
      if (conv.key === this.active) {
        this.renderTyping(conv);
      }
    },

    "chat.presence": function (frame) {
      const conv = this.convs.get(key(frame.conversation));
      if (!conv) {
        return;
      }
      conv.citizen = frame.citizen;
      if (frame.citizen !== "connected") {
        conv.typing = false;
      }
      this.renderTabs();
      if (conv.key === this.active) {
        this.renderConversation();
      } else {
        this.announce(conv.pseudonym + ": " + (PRESENCE[frame.citizen] || ""));
      }
    },

    "chat.closed": function (frame) {
      const conv = this.convs.get(key(frame.conversation));
      if (!conv) {
        return;
      }
      this.closeConversation(conv, frame.reason || "ended");
    },

    "note.added": function (frame) {
      const conv = this.convs.get(key(frame.conversation));
      if (!conv || !frame.note) {
        return;
      }
      conv.notes.push(frame.note);
      if (frame.id) {
        this.requests.delete(frame.id);
      }
      if (conv.key === this.active) {
        this.renderNotes(conv);
      }
    },

    alert: function (frame) {
      this.raise(frame.kind, frame.conversation, { risk: !!frame.risk, from: frame.from || null, note: frame.note || null });
    },

    letters: function (frame) {
      this.letters = Array.isArray(frame.items) ? frame.items : [];
      this.renderLetters();
    },

    error: function (frame) {
      const request = frame.id ? this.requests.get(frame.id) : null;
      if (frame.id) {
        this.requests.delete(frame.id);
      }
      if (request && request.calls) {
        if (this.calls) {
          this.calls.onError(frame, request);
        }
        return;
      }
      this.setBusy(false);
      if (request && request.kind === "duty") {
        for (const conv of this.convs.values()) {
          conv.endedByMe = false;
        }
      } else if (request && request.conversation !== undefined && request.conversation !== null) {
        const conv = this.convs.get(key(request.conversation));
        if (conv && request.kind !== "reopen") {
          conv.endedByMe = false; // the transfer, end or block did not happen: the tab stays
        }
      }
      if (frame.code === "has_open_chats") {
        this.askOffDuty();
        return;
      }
      if (request && request.kind === "reopen") {
        const conv = this.convs.get(key(request.conversation));
        if (!conv) {
          return;
        }
        if (frame.code === "not_yours" || frame.code === "unknown_conversation" || frame.code === "chat_ended") {
          this.closeConversation(conv, null, ERRORS[frame.code]);
        } else if (!conv.loaded) {
          // The conversation goes on; only the earlier messages cannot be shown.
          conv.loaded = true;
          conv.historyMissing = true;
          this.renderConversation();
        }
        return;
      }
      if (request && request.kind === "take" && frame.code === "already_taken") {
        this.say(ERRORS.already_taken, "error");
        return;
      }
      const text = ERRORS[frame.code] || "Det lykkedes ikke.";
      this.say(text, "error", frame.reason || "");
    },

    pong: function () {},
  };

  /* ---------------------------------------------------------------- conversations */

  Desk.prototype.addConversation = function (info) {
    const k = key(info.conversation);
    let conv = this.convs.get(k);
    if (!conv) {
      conv = {
        key: k,
        ref: info.conversation,
        pseudonym: info.pseudonym || "Borger",
        topic: info.topic || null,
        risk: !!info.risk,
        role: info.role || "owner",
        citizen: "connected",
        messages: new Map(),
        pending: new Map(),
        notes: [],
        typing: false,
        typingAt: 0,
        unread: 0,
        draft: "",
        noteDraft: "",
        openForm: null,
        closed: null,
        closedText: "",
        loaded: false,
        escalated: false,
        kind: info.kind || "chat",
        media: info.media || null,
      };
      this.convs.set(k, conv);
      this.order.push(k);
    }
    return conv;
  };

  Desk.prototype.closeConversation = function (conv, reason, text) {
    if (conv.closed) {
      return;
    }
    conv.closed = reason || "ended";
    conv.typing = false;
    conv.openForm = null;
    conv.closedText = text || CLOSE_REASONS[conv.closed] || "Samtalen er ikke din længere.";
    if (conv.endedByMe) {
      // Ended or transferred from this page: the tab has done its job.
      this.say(conv.closedText, "ok");
      this.removeTab(conv.key);
      return;
    }
    if (conv.key !== this.active) {
      this.announce(conv.pseudonym + ": " + conv.closedText);
    }
    this.renderTabs();
    this.renderConversation();
  };

  Desk.prototype.removeTab = function (k) {
    this.convs.delete(k);
    const i = this.order.indexOf(k);
    if (i >= 0) {
      this.order.splice(i, 1);
    }
    if (this.active === k) {
      this.active = this.order.length ? this.order[Math.min(i, this.order.length - 1)] : null;
    }
    this.renderTabs();
    this.renderConversation();
    if (this.active) {
      const tab = $("tab-" + this.active);
      if (tab) {
        tab.focus();
      }
    } else if (!$("take-next").disabled) {
      $("take-next").focus();
    } else {
      $("work-title").focus();
    }
  };

  Desk.prototype.activate = function (k, focusComposer) {
    const previous = this.active ? this.convs.get(this.active) : null;
    if (previous) {
      previous.draft = $("compose-text").value;
      previous.noteDraft = $("note-text").value;
      this.stopTyping();
    }
    this.active = k;
    const conv = this.convs.get(k);
    if (conv) {
      conv.unread = 0;
      $("compose-text").value = conv.draft;
      $("note-text").value = conv.noteDraft;
      this.alerts.delete("transfer:" + k);
      this.renderAlerts();
    }
    this.renderTabs();
    this.renderConversation();
    if (focusComposer && conv && !conv.closed) {
      $("compose-text").focus();
    }
  };

  /* ---------------------------------------------------------------- alerts */

  Desk.prototype.raise = function (kind, conversation, info) {
    const k = kind + ":" + (conversation === undefined || conversation === null ? "" : key(conversation));
    if (this.alerts.has(k)) {
      return;
    }
    const item = this.queue.find((i) => key(i.conversation) === key(conversation));
    const conv = this.convs.get(key(conversation));
    const who = (info && info.pseudonym) || (item && item.pseudonym) || (conv && conv.pseudonym) || "";
    const topic = (info && info.topic) || (item && item.topic) || (conv && conv.topic) || "";
    const risk = !!(info && info.risk);
    let title;
    let body = [who, topic].filter(Boolean).join(" · ");
    if (kind === "new") {
      title = risk ? "I FARE: ny samtale venter" : "Ny samtale venter";
      if (info && info.from) {
        // A chat sent back to the queue by a colleague, with their note.
        body = [body, "sat tilbage i køen af " + info.from, info.note].filter(Boolean).join(" – ");
      }
    } else if (kind === "escalation") {
      title = (info.from || "En kollega") + " har brug for hjælp";
      body = [body, info.note].filter(Boolean).join(" – ");
    } else if (kind === "transfer") {
      title = "Samtale overdraget til dig" + (info.from ? " fra " + info.from : "");
      body = [body, info.note].filter(Boolean).join(" – ");
    } else if (kind === "letter") {
      title = "Nyt brev i brevkassen";
    } else {
      title = "Ny meddelelse";
    }
    const alert = { key: k, kind: kind, conversation: conversation, risk: risk, title: title, body: body };
    this.alerts.set(k, alert);
    this.ringFor(alert);
    this.renderAlerts(alert);
  };

  Desk.prototype.ringFor = function (alert) {
    alerter.ring(alert.risk || alert.kind === "escalation");
    alerter.notify("Fristed: " + alert.title, alert.body, "fristed-" + alert.key);
  };

  Desk.prototype.repeatAlerts = function () {
    if (!this.alerts.size) {
      return;
    }
    let urgent = null;
    for (const a of this.alerts.values()) {
      if (!urgent || a.risk || a.kind === "escalation") {
        urgent = a;
      }
    }
    this.ringFor(urgent);
  };

  Desk.prototype.acknowledge = function () {
    this.alerts.clear();
    this.renderAlerts();
    $("alert-live").textContent = "";
  };

  Desk.prototype.renderAlerts = function (fresh) {
    const box = $("alerts");
    const list = $("alert-list");
    list.textContent = "";
    if (!this.alerts.size) {
      box.hidden = true;
      alerter.stopFlash();
      return;
    }
    box.hidden = false;
    let urgent = false;
    const isUrgent = (a) => a.risk || a.kind === "escalation";
    const ordered = Array.from(this.alerts.values()).sort((a, b) => Number(isUrgent(b)) - Number(isUrgent(a)));
    for (const a of ordered) {
      urgent = urgent || a.risk || a.kind === "escalation";
      const li = make("li", "alert-item" + (a.risk || a.kind === "escalation" ? " is-urgent" : ""));
      const text = make("p", "alert-text");
      text.appendChild(make("strong", null, a.title));
      if (a.body) {
        text.appendChild(document.createTextNode(" " + a.body));
      }
      li.appendChild(text);
      if (a.kind === "new" && this.duty) {
        const item = this.queue.find((i) => key(i.conversation) === key(a.conversation));
        const call = !!item && !!this.calls && global.fristedCalls.isCall(item);
        const take = make("button", "button button-small", call ? "Tag opkaldet" : "Tag");
        take.type = "button";
        take.setAttribute("aria-label", (call ? "Tag opkaldet: " : "Tag samtalen: ") + a.title);
        take.addEventListener("click", () => (call ? this.calls.accept(a.conversation) : this.take(a.conversation)));
        li.appendChild(take);
      } else if (a.kind === "escalation" && (this.me.role === "staff" || this.me.role === "admin")
                 && !this.convs.has(key(a.conversation))) {
        const join = make("button", "button button-small", "Gå ind i samtalen");
        join.type = "button";
        join.addEventListener("click", () => this.join(a.conversation));
        li.appendChild(join);
      } else if (a.kind === "transfer" && this.convs.has(key(a.conversation))) {
        const show = make("button", "button button-small", "Vis samtalen");
        show.type = "button";
        show.addEventListener("click", () => this.activate(key(a.conversation), true));
        li.appendChild(show);
      } else if (a.kind === "letter") {
        const show = make("button", "button button-small", "Vis breve");
        show.type = "button";
        show.addEventListener("click", () => this.toggleLetters(true));
        li.appendChild(show);
      }
      list.appendChild(li);
    }
    box.classList.toggle("is-urgent", urgent);
    if (fresh) {
      $("alert-live").textContent = fresh.title + (fresh.body ? ": " + fresh.body : "");
    }
    alerter.startFlash(ordered[0].title);
  };

  /* ---------------------------------------------------------------- actions */

  Desk.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.renderQueue();
  };

  Desk.prototype.take = function (conversation) {
    alerter.unlock();
    const Calls = global.fristedCalls;
    const first = conversation === null || conversation === undefined ? this.queue[0] : null;
    if (this.calls && Calls && Calls.isCall(first)) {
      this.calls.accept(first.conversation); // the next in the queue is a call: answer it
      return;
    }
    const frame = { type: "chat.take" };
    if (conversation !== undefined && conversation !== null) {
      frame.conversation = conversation;
    }
    if (this.send(frame, { kind: "take", conversation: conversation })) {
      this.setBusy(true);
      this.say("Tager samtalen …");
    }
  };

  Desk.prototype.join = function (conversation) {
    this.alerts.delete("escalation:" + key(conversation));
    this.renderAlerts();
    this.send({ type: "chat.join", conversation: conversation }, { kind: "join", conversation: conversation });
  };

  Desk.prototype.toggleDuty = function () {
    alerter.unlock();
    if (!this.duty) {
      this.send({ type: "duty.set", on: true }, { kind: "duty" });
      return;
    }
    const open = Array.from(this.convs.values()).filter((c) => !c.closed && c.role === "owner");
    if (open.length) {
      this.askOffDuty();
      return;
    }
    this.send({ type: "duty.set", on: false }, { kind: "duty" });
  };

  Desk.prototype.askOffDuty = function () {
    const box = $("offduty-choice");
    const select = $("offduty-to");
    select.textContent = "";
    const others = this.onDuty.filter((n) => n !== this.me.name);
    for (const name of others) {
      const option = make("option", null, name);
      option.value = name;
      select.appendChild(option);
    }
    $("offduty-transfer-row").hidden = others.length === 0;
    $("offduty-nobody").hidden = others.length !== 0;
    const n = Array.from(this.convs.values()).filter((c) => !c.closed && c.role === "owner").length;
    $("offduty-text").textContent = n === 1
      ? "Du har 1 åben samtale. Hvad skal der ske med den, når du går af vagt?"
      : "Du har åbne samtaler" + (n > 1 ? " (" + n + ")" : "") + ". Hvad skal der ske med dem, når du går af vagt?";
    box.hidden = false;
    $("offduty-title").focus();
  };

  Desk.prototype.offDuty = function (how) {
    const frame = { type: "duty.set", on: false, open_chats: how };
    if (how === "transfer") {
      frame.to = $("offduty-to").value;
      if (!frame.to) {
        return;
      }
    }
    for (const conv of this.convs.values()) {
      if (conv.role === "owner") {
        conv.endedByMe = true;
      }
    }
    if (this.send(frame, { kind: "duty" })) {
      $("offduty-choice").hidden = true;
      $("duty-toggle").focus();
    }
  };

  Desk.prototype.sendMessage = function () {
    const conv = this.activeConv();
    const box = $("compose-text");
    const text = box.value.trim();
    if (!conv || conv.closed || !text) {
      return;
    }
    if (text.length > 2000) {
      this.say("Beskeden er for lang (højst 2000 tegn).", "error");
      return;
    }
    const clientId = newId("c");
    conv.pending.set(clientId, { text: text, ts: Date.now() / 1000 });
    this.stopTyping();
    if (!this.link || !this.link.send({ type: "chat.send", conversation: conv.ref, text: text, client_id: clientId })) {
      // Kept as pending: it is sent again, with the same client_id, as soon as the link is back.
      this.say("Der er ingen forbindelse lige nu. Beskeden bliver sendt, når forbindelsen er tilbage.", "error");
    }
    box.value = "";
    conv.draft = "";
    this.renderMessages(conv, true);
  };

  Desk.prototype.typed = function () {
    const conv = this.activeConv();
    if (!conv || conv.closed) {
      return;
    }
    const now = performance.now();
    const out = this.typingOut;
    if ($("compose-text").value.trim() === "") {
      this.stopTyping();
      return;
    }
    if (out.conv !== conv.key || now - out.last > TYPING_SEND_MS) {
      if (out.conv && out.conv !== conv.key) {
        this.stopTyping();
      }
      out.conv = conv.key;
      out.last = now;
      if (this.link) {
        this.link.send({ type: "chat.typing", conversation: conv.ref, active: true });
      }
    }
    clearTimeout(out.idle);
    out.idle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  };

  Desk.prototype.stopTyping = function () {
    const out = this.typingOut;
    clearTimeout(out.idle);
    if (out.conv) {
      const conv = this.convs.get(out.conv);
      if (conv && !conv.closed && this.link) {
        this.link.send({ type: "chat.typing", conversation: conv.ref, active: false });
      }
    }
    out.conv = null;
    out.last = 0;
  };

  Desk.prototype.addNote = function () {
    const conv = this.activeConv();
    const box = $("note-text");
    const text = box.value.trim();
    if (!conv || !text) {
      return;
    }
    if (this.send({ type: "note.add", conversation: conv.ref, text: text }, { kind: "note", conversation: conv.ref })) {
      box.value = "";
      conv.noteDraft = "";
    }
  };

  Desk.prototype.insertCanned = function () {
    const c = this.canned[Number($("canned-select").value)];
    const box = $("compose-text");
    if (!c) {
      return;
    }
    const start = box.selectionStart;
    const end = box.selectionEnd;
    box.value = box.value.slice(0, start) + c.text + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = start + c.text.length;
    this.typed();
  };

  Desk.prototype.openForm = function (name) {
    const conv = this.activeConv();
    if (!conv || conv.closed) {
      return;
    }
    conv.openForm = conv.openForm === name ? null : name;
    this.renderForms(conv);
    if (conv.openForm) {
      if (name === "transfer") {
        this.fillTransferTargets();
      } else if (name === "end" && conv.topic && this.topics.indexOf(conv.topic) >= 0) {
        $("end-topic").value = conv.topic;
      }
      $(name + "-title").focus();
    }
  };

  /** Show conversation `k` with its form `name` open (the call panel's "Afslut opkaldet"). */
  Desk.prototype.showForm = function (k, name) {
    if (!this.convs.has(k)) {
      this.say("Opkaldet er ikke på din liste endnu. Prøv igen om et øjeblik.", "error");
      return;
    }
    this.activate(k, false);
    const conv = this.convs.get(k);
    if (conv.openForm !== name) {
      this.openForm(name);
    } else {
      $(name + "-title").focus();
    }
  };

  Desk.prototype.fillTransferTargets = function () {
    const select = $("transfer-to");
    select.textContent = "";
    const back = make("option", null, "Tilbage i køen");
    back.value = "";
    select.appendChild(back);
    for (const name of this.onDuty) {
      if (name === this.me.name) {
        continue;
      }
      const option = make("option", null, name);
      option.value = name;
      select.appendChild(option);
    }
  };

  Desk.prototype.submitForm = function (name) {
    const conv = this.activeConv();
    if (!conv || conv.closed) {
      return;
    }
    let frame;
    if (name === "transfer") {
      frame = { type: "chat.transfer", conversation: conv.ref, note: $("transfer-note").value.trim() };
      const to = $("transfer-to").value;
      if (to) {
        frame.to = to;
      }
    } else if (name === "escalate") {
      frame = { type: "chat.escalate", conversation: conv.ref };
      const note = $("escalate-note").value.trim();
      if (note) {
        frame.note = note;
      }
    } else if (name === "end") {
      frame = { type: "chat.end", conversation: conv.ref, topic: $("end-topic").value || "Andet" };
      const outcome = $("end-outcome").value.trim();
      if (outcome) {
        frame.outcome = outcome;
      }
    } else if (name === "block") {
      const reason = $("block-reason").value.trim();
      if (!reason) {
        $("block-reason").setAttribute("aria-invalid", "true");
        this.say("Skriv en begrundelse for blokeringen.", "error");
        $("block-reason").focus();
        return;
      }
      $("block-reason").removeAttribute("aria-invalid");
      frame = { type: "chat.block", conversation: conv.ref, hours: Number($("block-hours").value), reason: reason };
    }
    if (name !== "escalate") {
      conv.endedByMe = true;
    }
    if (!this.send(frame, { kind: name, conversation: conv.ref })) {
      conv.endedByMe = false;
      return;
    }
    this.stopTyping();
    if (name === "escalate") {
      conv.escalated = true;
      conv.openForm = null;
      $("escalate-note").value = "";
      this.say("Der er bedt om hjælp. En medarbejder kan gå ind i samtalen sammen med dig.", "ok");
      this.renderConversation();
      $("compose-text").focus();
    } else {
      for (const id of ["transfer-note", "end-outcome", "block-reason"]) {
        $(id).value = "";
      }
    }
  };

  Desk.prototype.toggleLetters = function (show) {
    const panel = $("letters-panel");
    const open = show === undefined ? panel.hidden : show;
    panel.hidden = !open;
    $("letters-toggle").setAttribute("aria-expanded", String(open));
    $("letters-toggle").textContent = open ? "Skjul breve" : "Vis breve";
    if (open) {
      for (const [k, a] of this.alerts) {
        if (a.kind === "letter") {
          this.alerts.delete(k);
        }
      }
      this.renderAlerts();
      this.send({ type: "letters.list" });
    }
  };

  Desk.prototype.replyLetter = function (letter, textarea) {
    const text = textarea.value.trim();
    if (!text) {
      textarea.focus();
      return;
    }
    if (this.send({ type: "letter.reply", conversation: letter.conversation, text: text },
                  { kind: "letter", conversation: letter.conversation })) {
      this.say("Svaret er sendt. Borgeren kan læse det med sin kode.", "ok");
      this.letters = this.letters.filter((l) => l !== letter);
      this.renderLetters();
      this.send({ type: "letters.list" });
    }
  };

  Desk.prototype.activeConv = function () {
    return this.active ? this.convs.get(this.active) || null : null;
  };

  /* ---------------------------------------------------------------- rendering */

  Desk.prototype.renderAll = function () {
    this.renderDuty();
    this.renderQueue();
    this.renderLettersCount();
    this.renderTabs();
    this.renderConversation();
    this.renderCanned();
    this.renderTopics();
    this.renderSoundState();
  };

  Desk.prototype.renderDuty = function () {
    const button = $("duty-toggle");
    const state = $("duty-state");
    button.disabled = !this.connected || !this.dutyKnown;
    button.setAttribute("aria-pressed", String(this.duty));
    button.textContent = this.duty ? "Gå af vagt" : "Gå på vagt";
    button.classList.toggle("button-secondary", this.duty);
    state.textContent = this.duty ? "Du er på vagt." : "Du er ikke på vagt.";
    state.classList.toggle("is-on", this.duty);
  };

  Desk.prototype.renderQueue = function () {
    const list = $("queue-list");
    list.textContent = "";
    const canTake = this.connected && this.duty && !this.busy;
    $("take-next").disabled = !canTake || this.queue.length === 0;
    $("queue-title").textContent = this.queue.length ? "Kø (" + this.queue.length + " venter)" : "Kø";
    $("queue-empty").hidden = this.queue.length !== 0;
    $("queue-empty").textContent = this.connected ? "Ingen venter lige nu." : "Køen vises, når der er forbindelse.";
    const now = performance.now();
    for (const item of this.queue) {
      const li = make("li", "queue-item" + (item.risk ? " is-risk" : ""));
      li.dataset.conversation = key(item.conversation);
      const info = make("div", "queue-info");
      const line = make("p", "queue-line");
      if (item.risk) {
        line.appendChild(make("span", "risk-badge", "I fare"));
      }
      line.appendChild(make("strong", "queue-name", item.pseudonym || "Borger"));
      const call = !!global.fristedCalls && global.fristedCalls.isCall(item);
      li.dataset.kind = call ? "call" : "chat";
      line.appendChild(make("span", "kind-badge" + (call ? " is-call" : ""),
                            call ? "Opkald · " + global.fristedCalls.mediaName(item.media) : "Chat"));
      info.appendChild(line);
      const meta = make("p", "queue-meta");
      const waited = (Number(item.waiting_s) || 0) + (now - this.queueAt) / 1000;
      const wait = make("span", "queue-wait", "venter " + duration(waited));
      wait.dataset.base = String(Number(item.waiting_s) || 0);
      meta.appendChild(wait);
      meta.appendChild(document.createTextNode(" · " + (item.topic || "intet emne")));
      if (item.messages) {
        meta.appendChild(document.createTextNode(" · " + item.messages + (item.messages === 1 ? " besked" : " beskeder")));
      }
      info.appendChild(meta);
      const presence = make("p", "queue-presence" + (item.citizen === "lost" ? " is-lost" : ""),
                            item.citizen === "lost" ? "Forbindelsen er væk" : "Forbundet");
      info.appendChild(presence);
      li.appendChild(info);
      const take = make("button", "button button-small queue-take", call ? "Tag opkaldet" : "Tag");
      take.type = "button";
      take.disabled = !canTake || (call && !!this.calls && this.calls.call !== null);
      take.setAttribute("aria-label", (call ? "Tag opkaldet fra " : "Tag samtalen med ") + (item.pseudonym || "borger")
                        + (item.risk ? " (i fare)" : ""));
      take.addEventListener("click", () => {
        if (call && this.calls) {
          this.calls.accept(item.conversation);
        } else {
          this.take(item.conversation);
        }
      });
      li.appendChild(take);
      list.appendChild(li);
    }
    const others = this.onDuty.length ? "På vagt nu: " + this.onDuty.join(", ") + "." : "Ingen er på vagt lige nu.";
    $("on-duty").textContent = this.connected ? others : "";
    if (!this.duty && this.queue.length && this.connected) {
      $("on-duty").textContent += " Gå på vagt for at tage samtaler.";
    }
  };

  Desk.prototype.tick = function () {
    if (this.calls) {
      this.calls.tick();
    }
    const elapsed = (performance.now() - this.queueAt) / 1000;
    for (const span of document.querySelectorAll("#queue-list .queue-wait")) {
      span.textContent = "venter " + duration(Number(span.dataset.base) + elapsed);
    }
    const conv = this.activeConv();
    if (conv && conv.typing && performance.now() - conv.typingAt > TYPING_SHOW_MS) {
      conv.typing = false;
      this.renderTyping(conv);
    }
  };

  Desk.prototype.renderLettersCount = function () {
    const n = this.lettersCount;
    $("letters-title").textContent = n ? "Brevkasse (" + n + ")" : "Brevkasse";
    $("letters-count").textContent = n === 0 ? "Ingen ubesvarede breve." : n === 1 ? "1 ubesvaret brev." : n + " ubesvarede breve.";
  };

  Desk.prototype.renderLetters = function () {
    const list = $("letters-list");
    list.textContent = "";
    if (!this.letters.length) {
      list.appendChild(make("li", "hint", "Ingen ubesvarede breve."));
      return;
    }
    this.letters.forEach((letter, i) => {
      const li = make("li", "letter");
      li.appendChild(make("p", "letter-meta", clockTime(letter.ts) + (letter.topic ? " · " + letter.topic : "")));
      li.appendChild(make("p", "letter-text", letter.text));
      const form = make("form", "letter-form");
      form.noValidate = true;
      const label = make("label", null, "Dit svar");
      const area = make("textarea");
      area.id = "letter-reply-" + i;
      area.rows = 3;
      area.maxLength = 4000;
      label.htmlFor = area.id;
      const button = make("button", "button", "Send svar");
      button.type = "submit";
      form.append(label, area, button);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.replyLetter(letter, area);
      });
      li.appendChild(form);
      list.appendChild(li);
    });
  };

  Desk.prototype.renderTabs = function () {
    const tabs = $("tabs");
    const focused = document.activeElement && document.activeElement.getAttribute("role") === "tab";
    tabs.textContent = "";
    this.order.forEach((k, i) => {
      const conv = this.convs.get(k);
      const tab = make("button", "tab" + (conv.risk ? " is-risk" : "") + (conv.closed ? " is-closed" : ""));
      tab.type = "button";
      tab.id = "tab-" + k;
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", "conversation");
      tab.setAttribute("aria-selected", String(k === this.active));
      tab.tabIndex = k === this.active ? 0 : -1;
      if (i < 9) {
        tab.setAttribute("aria-keyshortcuts", "Alt+" + (i + 1));
      }
      if (conv.risk) {
        tab.appendChild(make("span", "risk-badge", "I fare"));
      }
      tab.appendChild(make("span", "tab-name", conv.pseudonym));
      const bits = [];
      if (conv.kind && conv.kind !== "chat") {
        bits.push("opkald");
      }
      if (conv.role === "helper") {
        bits.push("hjælper");
      }
      if (conv.closed) {
        bits.push("slut");
      } else if (conv.citizen === "lost") {
        bits.push("forbindelse væk");
      } else if (conv.citizen === "left") {
        bits.push("har forladt");
      }
      if (bits.length) {
        tab.appendChild(make("span", "tab-state", "(" + bits.join(", ") + ")"));
      }
      if (conv.unread) {
        const badge = make("span", "unread", String(conv.unread));
        badge.setAttribute("aria-label", conv.unread + (conv.unread === 1 ? " ny besked" : " nye beskeder"));
        tab.appendChild(badge);
      }
      tab.addEventListener("click", () => this.activate(k, true));
      tab.addEventListener("keydown", (event) => this.tabKey(event, i));
      tabs.appendChild(tab);
    });
    $("no-conversation").hidden = this.order.length !== 0;
    if (focused && this.active) {
      const tab = $("tab-" + this.active);
      if (tab) {
        tab.focus();
      }
    }
  };

  Desk.prototype.tabKey = function (event, i) {
    let next = null;
    if (event.key === "ArrowRight") {
      next = (i + 1) % this.order.length;
    } else if (event.key === "ArrowLeft") {
      next = (i - 1 + this.order.length) % this.order.length;
    } else if (event.key === "Home") {
      next = 0;
    } else if (event.key === "End") {
      next = this.order.length - 1;
    }
    if (next !== null) {
      event.preventDefault();
      this.activate(this.order[next], false);
      $("tab-" + this.order[next]).focus();
    }
  };

  Desk.prototype.renderConversation = function () {
    const section = $("conversation");
    const conv = this.activeConv();
    if (!conv) {
      section.hidden = true;
      $("conv-call").hidden = true;
      return;
    }
    section.hidden = false;
    section.setAttribute("aria-labelledby", "tab-" + conv.key);
    const call = conv.kind && conv.kind !== "chat";
    $("conv-title").textContent = (call ? "Opkald med " : "Samtale med ") + conv.pseudonym;
    const meta = $("conv-meta");
    meta.textContent = "";
    if (conv.risk) {
      meta.appendChild(make("span", "risk-badge", "I fare"));
    }
    const bits = ["Emne: " + (conv.topic || "intet valgt")];
    if (call) {
      bits.unshift("Opkald · " + (conv.media === "audio" ? "kun lyd" : "video"));
    }
    if (conv.role === "helper") {
      bits.push("Du er med som hjælper");
    }
    if (conv.escalated) {
      bits.push("Der er bedt om hjælp");
    }
    meta.appendChild(document.createTextNode(bits.join(" · ")));
    this.renderPresence(conv);
    this.renderMessages(conv, true);
    this.renderTyping(conv);
    this.renderNotes(conv);
    this.renderForms(conv);
    const closed = !!conv.closed;
    const gone = conv.citizen === "left"; // the citizen ended it: only the registration is left to do
    const owner = conv.role === "owner";
    $("closed-notice").hidden = !closed;
    $("closed-text").textContent = conv.closedText;
    // A call has no written chat (chat.send refuses calls): its box in the page takes that place.
    $("messages").hidden = call;
    $("typing").hidden = call;
    $("composer").hidden = closed || gone || call;
    $("conv-actions").hidden = closed;
    $("note-form").hidden = closed;
    $("act-transfer").hidden = !owner || gone;
    $("act-escalate").hidden = !owner || gone || call;
    $("act-end").hidden = !owner;
    $("act-block").hidden = !owner || gone || call;
    $("act-end").textContent = gone || call ? "Afslut og registrér" : "Afslut";
    if (this.calls) {
      this.calls.renderConversation(conv);
    } else {
      $("conv-call").hidden = true;
    }
    $("act-escalate").textContent = conv.escalated ? "Bed om hjælp igen" : "Brug for hjælp";
  };

  Desk.prototype.renderPresence = function (conv) {
    const box = $("conv-presence");
    let text = conv.closed ? "" : (PRESENCE[conv.citizen] || "");
    if (text && conv.citizen === "left" && conv.role === "owner") {
      text += " Afslut samtalen og vælg et emne til statistikken.";
    }
    box.textContent = text;
    box.className = "presence is-" + (conv.citizen || "connected");
  };

  Desk.prototype.renderMessages = function (conv, toEnd) {
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.textContent = "";
    const messages = Array.from(conv.messages.values()).sort((a, b) => a.id - b.id);
    if (conv.historyMissing) {
      list.appendChild(make("li", "message from-system",
                            "Beskeder fra før siden blev genindlæst, kan ikke vises her. Nye beskeder kommer frem."));
    } else if (!messages.length && !conv.pending.size) {
      list.appendChild(make("li", "message from-system", conv.loaded ? "Ingen beskeder endnu." : "Henter samtalen …"));
    }
    for (const m of messages) {
      list.appendChild(this.messageItem(conv, m.from, m.author, m.text, m.ts, m.deleted, false));
    }
    for (const p of conv.pending.values()) {
      list.appendChild(this.messageItem(conv, "staff", this.me.name, p.text, p.ts, false, true));
    }
    if (atBottom || toEnd) {
      list.scrollTop = list.scrollHeight;
    }
  };

  Desk.prototype.messageItem = function (conv, from, author, text, ts, deleted, pending) {
    const li = make("li", "message from-" + (from === "citizen" || from === "staff" ? from : "system")
                    + (deleted ? " is-deleted" : "") + (pending ? " is-pending" : ""));
    let who;
    if (from === "citizen") {
      who = conv.pseudonym;
    } else if (from === "staff") {
      who = author === this.me.name ? "Dig" : (author || "Medarbejder");
    } else {
      who = "Fristed";
    }
    const head = make("p", "message-head");
    head.appendChild(make("span", "message-who", who));
    head.appendChild(make("span", "message-time", pending ? "sender …" : clockTime(ts)));
    li.appendChild(head);
    li.appendChild(make("p", "message-text", deleted ? "(slettet)" : text));
    return li;
  };

  Desk.prototype.renderTyping = function (conv) {
    $("typing").textContent = conv.typing && !conv.closed ? conv.pseudonym + " skriver …" : "";
  };

  Desk.prototype.renderNotes = function (conv) {
    const list = $("notes-list");
    list.textContent = "";
    if (!conv.notes.length) {
      list.appendChild(make("li", "note is-empty", "Ingen noter endnu."));
    }
    for (const n of conv.notes) {
      const li = make("li", "note");
      li.appendChild(make("p", "note-head", (n.author || "") + " · " + clockTime(n.ts)));
      li.appendChild(make("p", "note-text", n.text));
      list.appendChild(li);
    }
  };

  Desk.prototype.renderForms = function (conv) {
    for (const name of ["transfer", "escalate", "end", "block"]) {
      const open = conv.openForm === name && !conv.closed;
      $(name + "-form").hidden = !open;
      $("act-" + name).setAttribute("aria-expanded", String(open));
    }
  };

  Desk.prototype.renderSoundState = function () {
    const bits = [];
    bits.push(alerter.audio && alerter.audio.state === "running" ? "Lyd: slået til." : "Lyd: ikke slået til endnu.");
    if (!("Notification" in global)) {
      bits.push("Skrivebordsbeskeder: kan ikke bruges i denne browser.");
    } else if (Notification.permission === "granted") {
      bits.push("Skrivebordsbeskeder: slået til.");
    } else if (Notification.permission === "denied") {
      bits.push("Skrivebordsbeskeder: afvist i browseren (kan ændres i browserens indstillinger).");
    } else {
      bits.push("Skrivebordsbeskeder: ikke slået til.");
    }
    $("sound-state").textContent = bits.join(" ");
  };

  Desk.prototype.enableSound = async function () {
    alerter.unlock();
    alerter.ring(false);
    if ("Notification" in global && Notification.permission === "default") {
      try {
        await Notification.requestPermission();
      } catch (err) {
        /* older browsers: callback form only; ignore */
      }
    }
    this.renderSoundState();
  };

  /* ---------------------------------------------------------------- wiring */

  Desk.prototype.bindUi = function () {
    this.on($("duty-toggle"), "click", this.toggleDuty);
    this.on($("offduty-requeue"), "click", function () { this.offDuty("requeue"); });
    this.on($("offduty-transfer"), "click", function () { this.offDuty("transfer"); });
    this.on($("offduty-cancel"), "click", function () {
      $("offduty-choice").hidden = true;
      $("duty-toggle").focus();
    });
    this.on($("take-next"), "click", function () { this.take(null); });
    this.on($("alert-ack"), "click", this.acknowledge);
    this.on($("sound-enable"), "click", this.enableSound);
    this.on($("letters-toggle"), "click", function () { this.toggleLetters(); });
    this.on($("composer"), "submit", function (event) {
      event.preventDefault();
      this.sendMessage();
    });
    this.on($("compose-text"), "keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendMessage();
      }
    });
    this.on($("compose-text"), "input", this.typed);
    this.on($("compose-text"), "blur", this.stopTyping);
    this.on($("canned-insert"), "click", this.insertCanned);
    this.on($("note-form"), "submit", function (event) {
      event.preventDefault();
      this.addNote();
    });
    for (const name of ["transfer", "escalate", "end", "block"]) {
      this.on($("act-" + name), "click", function () { this.openForm(name); });
      this.on($(name + "-form"), "submit", function (event) {
        event.preventDefault();
        this.submitForm(name);
      });
      this.on($(name + "-form").querySelector(".form-cancel"), "click", function () {
        const conv = this.activeConv();
        if (conv) {
          conv.openForm = null;
          this.renderForms(conv);
        }
        $("act-" + name).focus();
      });
    }
    this.on($("close-tab"), "click", function () {
      if (this.active) {
        this.removeTab(this.active);
      }
    });
    this.on(document, "keydown", this.shortcut);
    // Any click is a user gesture: use it to let the page play sound later.
    this.on(document, "pointerdown", function () {
      if (alerter.unlock()) {
        this.renderSoundState();
      }
    });
  };

  Desk.prototype.shortcut = function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    const k = event.key.toLowerCase();
    if (/^[1-9]$/.test(event.key) || /^Digit[1-9]$/.test(event.code)) {
      const n = Number(event.code.slice(5) || event.key) - 1;
      if (this.order[n]) {
        event.preventDefault();
        this.activate(this.order[n], true);
      }
    } else if (k === "n" || event.code === "KeyN") {
      event.preventDefault();
      if (!$("take-next").disabled) {
        this.take(null);
      }
    } else if (k === "a" || event.code === "KeyA") {
      event.preventDefault();
      this.acknowledge();
    }
  };

  /* ---------------------------------------------------------------- public */

  let current = null;

  global.fristedDesk = {
    /** Open the desk for a signed-in account {name, role}; onSignedOut(text) when the session ends. */
    start: function (account, csrf, onSignedOut) {
      if (current) {
        current.stop();
      }
      current = new Desk(account, csrf, onSignedOut);
      current.start();
    },
    stop: function () {
      if (current) {
        current.stop();
        current = null;
      }
    },
    /** Call from a user gesture (the login button) so alerts may play sound. */
    unlockSound: function () {
      alerter.unlock();
    },
    roleName: function (role) {
      return Object.prototype.hasOwnProperty.call(ROLES, role) ? ROLES[role] : String(role);
    },
  };
})(window);
