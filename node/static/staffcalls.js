/* fristed: calls on the staff page (docs/api.md section 9): ringing calls, answering and declining
   them, the call itself in the page (one support room through protocol.js's RoomClient on the
   desk's own socket), call-backs, the duty roster and the handover notes.
   Needs /static/ui.js and /static/protocol.js. staffchat.js makes one Calls per desk with
   fristedCalls.create(desk, alerter) and hands it every frame; nothing here opens a socket. */
"use strict";

(function (global) {
  const AHEAD_S = 30;              // the ring is scheduled this far ahead in the audio clock, so a
                                   // throttled background tab keeps ringing between timer ticks
  const GONE_MS = 8000;            // a stopped ring card stays this long, saying who took it
  const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 20, max: 24 } };
  const ROLES = { admin: "administrator", staff: "medarbejder", volunteer: "frivillig" };
  const ERRORS = {
    already_taken: "En anden har allerede taget opkaldet.",
    citizen_away: "Borgeren har ikke siden åben lige nu. Prøv igen senere.",
    not_a_call: "Det er ikke et opkald.",
    not_ringing: "Opkaldet ringer ikke længere.",
    not_yours: "Opkaldet er ikke dit.",
    not_on_duty: "Du skal være på vagt for at tage opkald.",
    unknown_conversation: "Opkaldet findes ikke længere.",
    chat_ended: "Opkaldet er allerede slut.",
    unknown_note: "Noten findes ikke længere.",
    unknown_shift: "Vagten findes ikke længere.",
    unknown_account: "Der er ingen aktiv konto med det navn.",
    bad_shift: "Vagten kan ikke gemmes. Den må højst vare 24 timer og skal slutte ude i fremtiden.",
    forbidden: "Det har din rolle ikke adgang til.",
    rate_limited: "Du sender for hurtigt. Vent et øjeblik, og prøv igen.",
    bad_field: "Noget af det, du skrev, kunne ikke bruges.",
    already_in_room: "Du er allerede i et rum.",
    unknown_room: "Rummet til opkaldet findes ikke længere.",
    room_full: "Rummet er fuldt.",
    offline: "Der er ingen forbindelse til Fristed lige nu. Prøv igen om lidt.",
    timeout: "Fristed svarede ikke i tide. Prøv igen.",
    internal: "Fristed kunne ikke gøre det. Intet er ændret. Prøv igen.",
  };
  const ROOM_ENDED = {
    closed: "Opkaldet er slut. Rummet er lukket.",
    removed: "Du er ikke længere i opkaldets rum.",
    declined: "Du kom ikke ind i opkaldets rum.",
    refused: "Du kunne ikke komme ind i opkaldets rum igen.",
    left: "Du har forladt opkaldets rum. Opkaldet er ikke afsluttet.",
  };

  const { byId: $, make, key, two, clockTime, duration } = global.fristedUi;

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  /** "i dag", "i morgen", "i går" or "fre. 15. jan." for a Unix time, from this browser's clock. */
  function dayWord(ts) {
    const d = new Date(ts * 1000);
    const today = new Date();
    const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (sameDay(d, today)) {
      return "i dag";
    }
    if (sameDay(d, tomorrow)) {
      return "i morgen";
    }
    if (sameDay(d, yesterday)) {
      return "i går";
    }
    return d.toLocaleDateString("da-DK", { weekday: "short", day: "numeric", month: "short" });
  }

  /** "i dag 21:00–22:00": a span, with the day of its start (and of its end when that differs). */
  function span(from, to) {
    const a = new Date(from * 1000);
    const b = new Date(to * 1000);
    const end = sameDay(a, b) || (b - a < 86400000 && b.getHours() * 60 + b.getMinutes() <= a.getHours() * 60 + a.getMinutes())
      ? clockTime(to) : dayWord(to) + " " + clockTime(to);
    return dayWord(from) + " " + clockTime(from) + "–" + end;
  }

  function mediaName(media) {
    return media === "audio" ? "kun lyd" : "video";
  }

  function roleName(role) {
    return Object.prototype.hasOwnProperty.call(ROLES, role) ? ROLES[role] : String(role || "");
  }

  function isCall(item) {
    return !!item && typeof item.kind === "string" && item.kind !== "chat";
  }

  /* ------------------------------------------------------------------ the ring itself
     A generated telephone trill (no sound files): two short bursts, then a pause, again and again
     until every ringing call has stopped. The bursts are scheduled up to AHEAD_S seconds ahead on
     the audio clock, which keeps running when the browser slows the timers of a hidden tab. */

  function Ringer(alerter) {
    this.alerter = alerter;
    this.master = null;
    this.oscs = [];
    this.until = 0;
    this.urgent = false;
  }

  Ringer.prototype.running = function () {
    return this.master !== null;
  };

  Ringer.prototype.start = function (urgent) {
    if (this.master && this.urgent !== urgent) {
      this.stop();
    }
    this.urgent = urgent;
    return this.top();
  };

  /** Schedule more ring; false when the page may not play sound (yet). */
  Ringer.prototype.top = function () {
    const ctx = this.alerter.audio;
    if (!ctx || ctx.state !== "running") {
      return false;
    }
    if (!this.master) {
      this.master = ctx.createGain();
      this.master.gain.value = 0.32;
      this.master.connect(ctx.destination);
      this.until = ctx.currentTime + 0.05;
    }
    const cycle = this.urgent ? 2.4 : 4.0;
    const horizon = ctx.currentTime + AHEAD_S;
    while (this.until < horizon) {
      this.burst(ctx, this.until);
      this.burst(ctx, this.until + 0.55);
      this.until += cycle;
    }
    const now = ctx.currentTime;
    this.oscs = this.oscs.filter((o) => o.end > now);
    return true;
  };

  Ringer.prototype.burst = function (ctx, at) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    const high = this.urgent ? 1175 : 1046;
    const low = this.urgent ? 932 : 830;
    osc.type = "triangle";
    for (let i = 0; i < 8; i++) {
      osc.frequency.setValueAtTime(i % 2 ? low : high, at + i * 0.05);
    }
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(1, at + 0.02);
    gain.gain.setValueAtTime(1, at + 0.36);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.4);
    osc.connect(gain).connect(this.master);
    osc.start(at);
    osc.stop(at + 0.42);
    this.oscs.push({ osc: osc, end: at + 0.42 });
  };

  Ringer.prototype.stop = function () {
    for (const o of this.oscs) {
      try {
        o.osc.stop();
      } catch (err) {
        /* not started or stopped already */
      }
    }
    this.oscs = [];
    if (this.master) {
      this.master.disconnect();
      this.master = null;
    }
  };

  /* ------------------------------------------------------------------ calls */

  function Calls(desk, alerter) {
    this.desk = desk;
    this.alerter = alerter;
    this.ringer = new Ringer(alerter);
    this.rings = new Map();        // conversation key -> ringing call {info, li, at, stopped}
    this.callbacks = [];
    this.callbacksAt = performance.now();
    this.cbState = new Map();      // conversation key -> "ringing" | "unanswered:n" | "away"
    this.rooms = new Map();        // conversation key -> room id, from "mine"
    this.media = new Map();        // conversation key -> "video" | "audio"
    this.inHours = null;
    this.roster = null;
    this.notes = [];
    this.declines = []; // the centre's own short messages, from /api/chat/canned
    this.call = null;              // the call this page is in: {key, ref, roomId, media, pseudonym}
    this.local = null;             // MediaStream from the camera and microphone
    this.mic = true;
    this.camera = true;
    this.bound = [];
    this.counter = 0;
    this.room = new global.fristedProtocol.RoomClient(desk.link);
    this.watchRoom();
    this.bindUi();
    this.loadDeclines();
    const today = new Date();
    if (!$("shift-date").value) {
      $("shift-date").value = today.getFullYear() + "-" + two(today.getMonth() + 1) + "-" + two(today.getDate());
    }
    this.renderAll();
  }

  Calls.prototype.on = function (target, type, fn) {
    const self = this;
    const wrapped = function (event) { return fn.call(self, event); };
    target.addEventListener(type, wrapped);
    this.bound.push([target, type, wrapped]);
  };

  Calls.prototype.stop = function () {
    this.ringer.stop();
    this.alerter.unflash("calls");
    for (const r of this.rings.values()) {
      clearTimeout(r.goneTimer);
      if (r.notification) {
        r.notification.close();
      }
    }
    this.rings.clear();
    if (this.room.state !== "idle" && this.room.state !== "ended") {
      this.room.leave();
    }
    this.stopLocal();
    for (const [target, type, fn] of this.bound) {
      target.removeEventListener(type, fn);
    }
    this.bound = [];
    this.call = null;
    $("call-rings").textContent = "";
    $("calls").hidden = true;
    $("call-panel").hidden = true;
    $("callback-list").textContent = "";
    $("roster-now").textContent = "";
    $("roster-shifts").textContent = "";
    $("handover-list").textContent = "";
    $("hours-badge").hidden = true;
  };

  /** Send a frame whose answer or error comes back to onError/onFrame here. */
  Calls.prototype.send = function (frame, what) {
    return this.desk.send(frame, Object.assign({ calls: true }, what || {}));
  };

  Calls.prototype.renderAll = function () {
    this.renderRings();
    this.renderCallbacks();
    this.renderHours();
    this.renderRoster();
    this.renderHandover();
    this.renderPanel();
    $("roster-admin").hidden = this.desk.me.role !== "admin";
  };

  /* ---------------------------------------------------------------- frames */

  Calls.prototype.onOpen = function () {
    // The roster follows the "duty" frame the node sends on every connect.
    this.send({ type: "handover.list" }, { kind: "load" });
  };

  Calls.prototype.onFrame = function (frame) {
    const handler = FRAMES[frame.type];
    if (handler) {
      handler.call(this, frame);
    }
  };

  const FRAMES = {
    queue: function (frame) {
      this.callbacks = Array.isArray(frame.callbacks) ? frame.callbacks : [];
      this.callbacksAt = performance.now();
      const keys = new Set(this.callbacks.map((c) => key(c.conversation)));
      for (const k of Array.from(this.cbState.keys())) {
        if (!keys.has(k)) {
          this.cbState.delete(k);
        }
      }
      for (const item of (Array.isArray(frame.items) ? frame.items : []).concat(this.callbacks)) {
        if (isCall(item) && item.media) {
          this.media.set(key(item.conversation), item.media);
        }
      }
      if (typeof frame.in_hours === "boolean") {
        this.inHours = frame.in_hours;
      }
      // Someone went on or off duty: the roster's "on duty now" is out of date.
      const onDuty = JSON.stringify(Array.isArray(frame.on_duty) ? frame.on_duty.slice().sort() : []);
      if (this.onDutySeen !== undefined && onDuty !== this.onDutySeen) {
        this.send({ type: "roster.get" }, { kind: "load" });
      }
      this.onDutySeen = onDuty;
      this.renderCallbacks();
      this.renderHours();
    },

    duty: function () {
      if (this.desk.connected) {
        this.send({ type: "roster.get" }, { kind: "load" });
      }
    },

    mine: function (frame) {
      const list = Array.isArray(frame.conversations) ? frame.conversations : [];
      const keys = new Set(list.map((c) => key(c.conversation)));
      for (const k of Array.from(this.rooms.keys())) {
        if (!keys.has(k)) {
          this.rooms.delete(k);
        }
      }
      for (const c of list) {
        if (isCall(c)) {
          // The room id comes with "mine", or else from call.accepted, which is kept.
          if (typeof c.room === "string" && c.room) {
            this.rooms.set(key(c.conversation), c.room);
          } else if (c.room === null) {
            this.rooms.delete(key(c.conversation));
          }
          if (c.media) {
            this.media.set(key(c.conversation), c.media);
          }
        }
      }
      if (this.call && !list.some((c) => key(c.conversation) === this.call.key)) {
        this.leaveRoom(); // no longer ours (ended, transferred): out of its room too
      }
    },

    "call.ring": function (frame) {
      this.ring(frame);
    },

    "call.ring_stop": function (frame) {
      this.ringStopped(frame);
    },

    "call.accepted": function (frame) {
      const k = key(frame.conversation);
      this.cbState.delete(k);
      const r = this.rings.get(k);
      if (r) {
        this.ringStopped({ conversation: frame.conversation, reason: "accepted", by: this.desk.me.name });
      }
      if (frame.room && typeof frame.room === "object" && frame.room.room) {
        this.rooms.set(k, frame.room.room);
      }
      this.renderCallbacks();
      if (frame.device === "link") {
        // Only the console asks for a link; show it here too, so it is not lost.
        if (typeof frame.url === "string") {
          this.desk.say("Engangslink til opkaldet: " + frame.url, "ok");
        }
        return;
      }
      const room = frame.room && typeof frame.room === "object" ? frame.room : { room: frame.room };
      this.enter(frame.conversation, room);
    },

    "call.declined": function (frame) {
      this.desk.say("Opkaldet er afvist. Borgeren har fået din besked.", "ok");
      const r = this.rings.get(key(frame.conversation));
      if (r && !r.stopped) {
        this.ringStopped({ conversation: frame.conversation, reason: "declined", by: this.desk.me.name });
      }
    },

    "callback.ringing": function (frame) {
      this.cbState.set(key(frame.conversation), "ringing");
      this.renderCallbacks();
      this.desk.announce("Det ringer hos borgeren.");
    },

    "callback.unanswered": function (frame) {
      const tries = Number(frame.tries) || 1;
      this.cbState.set(key(frame.conversation), "unanswered:" + tries);
      this.renderCallbacks();
      this.desk.say("Borgeren tog ikke telefonen (forsøg " + tries + " af 3).", "error");
    },

    roster: function (frame) {
      this.roster = frame;
      if (typeof frame.in_hours === "boolean") {
        this.inHours = frame.in_hours;
      }
      this.renderRoster();
      this.renderHours();
    },

    handover: function (frame) {
      this.notes = Array.isArray(frame.notes) ? frame.notes : [];
      this.renderHandover();
    },

    "chat.closed": function (frame) {
      if (this.call && this.call.key === key(frame.conversation)) {
        this.leaveRoom();
      }
    },
  };

  /** An error for a request sent from here; true when it was handled. */
  Calls.prototype.onError = function (frame, request) {
    if (request.kind === "load") {
      // A node without calls (older version) does not know these; the panels then say so.
      if (frame.code === "unknown_type") {
        $("hours-state").textContent = "Vagtplan og overlevering findes ikke på denne node.";
      }
      return;
    }
    const text = ERRORS[frame.code] || "Det lykkedes ikke.";
    const k = request.conversation !== undefined && request.conversation !== null ? key(request.conversation) : null;
    if (request.kind === "accept" && k) {
      const r = this.rings.get(k);
      if (r && !r.stopped) {
        r.busy = false;
        this.renderRing(r);
      }
    }
    if (request.kind === "callback" && k) {
      this.cbState.set(k, frame.code === "citizen_away" ? "away" : "");
      this.renderCallbacks();
    }
    this.desk.say(text, "error", frame.reason || "");
  };

  /* ---------------------------------------------------------------- ringing */

  Calls.prototype.ring = function (frame) {
    const k = key(frame.conversation);
    let r = this.rings.get(k);
    const fresh = !r || r.stopped;
    if (!r || r.stopped) {
      if (r) {
        clearTimeout(r.goneTimer);
        r.li.remove();
      }
      r = { key: k, ref: frame.conversation, li: null, stopped: null, busy: false, declineOpen: false };
      this.rings.set(k, r);
    }
    const raised = r.info && Number(frame.level) > Number(r.info.level);
    r.info = frame;
    r.base = Number(frame.waiting_s) || 0;
    r.at = performance.now();
    if (frame.media) {
      this.media.set(k, frame.media);
    }
    if (fresh || raised) {
      const body = [frame.pseudonym, frame.topic, mediaName(frame.media)].filter(Boolean).join(" · ");
      const title = (frame.risk ? "I FARE: " : "") + "Opkald venter";
      if (r.notification) {
        r.notification.close();
      }
      r.notification = this.alerter.notify("Fristed: " + title, body, "fristed-call-" + k);
      $("call-live").textContent = title + ": " + body;
    }
    this.renderRings();
  };

  Calls.prototype.ringStopped = function (frame) {
    const k = key(frame.conversation);
    const r = this.rings.get(k);
    if (!r || r.stopped) {
      return;
    }
    r.stopped = frame;
    if (r.notification) {
      r.notification.close();
      r.notification = null;
    }
    const self = this;
    r.goneTimer = setTimeout(function () {
      if (self.rings.get(k) === r) {
        self.rings.delete(k);
        r.li.remove();
        self.renderRings();
      }
    }, GONE_MS);
    this.renderRings();
    this.desk.announce(this.stopText(frame, r.info));
  };

  Calls.prototype.stopText = function (frame, info) {
    const who = info && info.pseudonym ? info.pseudonym : "Borgeren";
    const by = frame.by === this.desk.me.name ? "dig" : frame.by;
    switch (frame.reason) {
      case "accepted":
        return "Opkaldet fra " + who + " er taget af " + (by || "en anden") + ".";
      case "declined":
        return "Opkaldet fra " + who + " er afvist af " + (by || "en anden") + ".";
      case "left":
        return who + " lagde på.";
      case "chat":
        return who + " skiftede til chat og står i køen.";
      case "lost":
        return "Forbindelsen til " + who + " er væk.";
      default:
        return "Opkaldet fra " + who + " ringer ikke længere.";
    }
  };

  Calls.prototype.ringing = function () {
    return Array.from(this.rings.values()).filter((r) => !r.stopped);
  };

  Calls.prototype.renderRings = function () {
    const list = $("call-rings");
    const all = Array.from(this.rings.values());
    // Risk first, then the longest wait, like the queue.
    all.sort((a, b) => Number(!!b.info.risk) - Number(!!a.info.risk) || (b.base - a.base));
    for (const r of all) {
      if (!r.li) {
        r.li = this.buildRing(r);
      }
      this.renderRing(r);
      list.appendChild(r.li);
    }
    $("calls").hidden = all.length === 0;
    const live = this.ringing();
    const urgent = live.some((r) => r.info.risk);
    $("calls").classList.toggle("is-urgent", urgent);
    $("calls-title").textContent = live.length === 1 ? "Et opkald ringer" :
      live.length > 1 ? live.length + " opkald ringer" : "Opkald";
    if (live.length) {
      const playing = this.ringer.start(urgent);
      const first = live.find((r) => r.info.risk) || live[0];
      this.alerter.flash("calls", (first.info.risk ? "I FARE: " : "") + "Opkald fra " + (first.info.pseudonym || "en borger"));
      $("calls-sound").hidden = playing;
    } else {
      this.ringer.stop();
      this.alerter.unflash("calls");
      $("calls-sound").hidden = true;
    }
    $("calls").dataset.ringing = live.length ? "true" : "false";
    $("calls").dataset.sound = this.ringer.running() ? "on" : "off";
  };

  Calls.prototype.buildRing = function (r) {
    const n = ++this.counter;
    const li = make("li", "call-card");
    li.dataset.conversation = r.key;
    const head = make("p", "call-card-kind");
    head.id = "call-k-" + n;
    const who = make("p", "call-card-who");
    const meta = make("p", "call-card-meta");
    const wait = make("span", "call-wait");
    const level = make("span", "call-level");
    meta.append(wait, level);
    const stopped = make("p", "call-card-stopped");
    stopped.setAttribute("role", "status");
    const row = make("div", "button-row call-card-buttons");
    const accept = make("button", "button call-accept", "Tag opkaldet");
    accept.type = "button";
    accept.setAttribute("aria-describedby", head.id);
    const decline = make("button", "button button-secondary call-decline", "Afvis");
    decline.type = "button";
    decline.setAttribute("aria-expanded", "false");
    decline.setAttribute("aria-describedby", head.id);
    row.append(accept, decline);
    const form = this.buildDecline(r, n);
    decline.setAttribute("aria-controls", form.id);
    li.append(head, who, meta, row, form, stopped);
    r.parts = { head: head, who: who, wait: wait, level: level, stopped: stopped, row: row, accept: accept,
                decline: decline, form: form };
    accept.addEventListener("click", () => this.accept(r.ref));
    decline.addEventListener("click", () => {
      r.declineOpen = !r.declineOpen;
      this.renderRing(r);
      if (r.declineOpen) {
        form.querySelector("input").focus();
      }
    });
    return li;
  };

  Calls.prototype.buildDecline = function (r, n) {
    const form = make("form", "call-decline-form");
    form.id = "call-d-" + n;
    form.noValidate = true;
    const set = make("fieldset");
    set.appendChild(make("legend", null, "Besked til borgeren"));
    const choices = this.declines.concat([null]);
    choices.forEach((text, i) => {
      const radio = make("input");
      radio.type = "radio";
      radio.name = "decline-" + n;
      radio.id = "call-d-" + n + "-" + i;
      radio.value = String(i);
      radio.checked = i === 0;
      const label = make("label", "check");
      label.htmlFor = radio.id;
      label.append(radio, document.createTextNode(" " + (text === null ? "Skriv selv en besked" : text)));
      set.appendChild(label);
    });
    const own = make("textarea", "call-decline-own");
    own.id = "call-d-" + n + "-text";
    own.rows = 2;
    own.maxLength = 300;
    const ownLabel = make("label", "visually-hidden", "Din egen besked");
    ownLabel.htmlFor = own.id;
    own.addEventListener("input", () => {
      set.querySelector('input[value="' + (choices.length - 1) + '"]').checked = true;
    });
    set.append(ownLabel, own);
    const send = make("button", "button", "Afvis og send beskeden");
    send.type = "submit";
    const cancel = make("button", "button button-secondary", "Fortryd");
    cancel.type = "button";
    const row = make("div", "button-row");
    row.append(send, cancel);
    form.append(set, row);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const picked = form.querySelector('input[type="radio"]:checked');
      const i = picked ? Number(picked.value) : 0;
      const text = (choices[i] === null ? own.value : choices[i] || "").trim();
      if (!text) {
        own.setAttribute("aria-invalid", "true");
        this.desk.say("Skriv en kort besked til borgeren.", "error");
        own.focus();
        return;
      }
      own.removeAttribute("aria-invalid");
      this.decline(r.ref, text.slice(0, 300));
    });
    cancel.addEventListener("click", () => {
      r.declineOpen = false;
      this.renderRing(r);
      r.parts.decline.focus();
    });
    return form;
  };

  Calls.prototype.renderRing = function (r) {
    const info = r.info;
    const p = r.parts;
    r.li.className = "call-card" + (info.risk ? " is-risk" : "") + (r.stopped ? " is-stopped" : "");
    p.head.textContent = "Opkald · " + mediaName(info.media);
    p.who.textContent = "";
    if (info.risk) {
      p.who.appendChild(make("span", "risk-badge", "I fare"));
    }
    p.who.appendChild(make("strong", "call-name", info.pseudonym || "Borger"));
    p.who.appendChild(document.createTextNode(" · " + (info.topic || "intet emne")));
    p.wait.dataset.base = String(r.base);
    p.wait.textContent = "venter " + duration(r.base + (performance.now() - r.at) / 1000);
    const level = Number(info.level) || 0;
    p.level.textContent = level > 0
      ? " · Sendt videre, trin " + level + ": ingen på vagt har taget det"
      : "";
    const done = !!r.stopped;
    p.row.hidden = done;
    p.form.hidden = done || !r.declineOpen;
    p.decline.setAttribute("aria-expanded", String(!done && r.declineOpen));
    const inCall = this.call !== null;
    p.accept.disabled = r.busy || inCall || !this.desk.connected;
    p.accept.textContent = r.busy ? "Tager opkaldet …" : "Tag opkaldet";
    p.accept.title = inCall ? "Du er allerede i et opkald." : "";
    p.stopped.hidden = !done;
    p.stopped.textContent = done ? this.stopText(r.stopped, info) : "";
  };

  Calls.prototype.tick = function () {
    for (const r of this.rings.values()) {
      if (!r.stopped && r.parts) {
        r.parts.wait.textContent = "venter " + duration(r.base + (performance.now() - r.at) / 1000);
      }
    }
    if (this.ringing().length) {
      this.ringer.top(); // keep the ring scheduled ahead; starts it once sound is allowed
      $("calls").dataset.sound = this.ringer.running() ? "on" : "off";
      $("calls-sound").hidden = this.ringer.running();
    }
  };

  /* ---------------------------------------------------------------- answer, decline, call back */

  Calls.prototype.accept = function (conversation) {
    this.alerter.unlock();
    if (this.call) {
      this.desk.say("Du er allerede i et opkald. Afslut det, før du tager et nyt.", "error");
      return;
    }
    const k = key(conversation);
    if (this.send({ type: "call.accept", conversation: conversation, device: "here" },
                  { kind: "accept", conversation: conversation })) {
      const r = this.rings.get(k);
      if (r && !r.stopped) {
        r.busy = true;
        this.renderRing(r);
      }
      this.desk.say("Tager opkaldet …");
    }
  };

  Calls.prototype.decline = function (conversation, message) {
    this.send({ type: "call.decline", conversation: conversation, message: message },
              { kind: "decline", conversation: conversation });
  };

  Calls.prototype.callBack = function (item) {
    this.alerter.unlock();
    if (this.call) {
      this.desk.say("Du er allerede i et opkald. Afslut det, før du ringer op.", "error");
      return;
    }
    if (this.send({ type: "callback.start", conversation: item.conversation, device: "here" },
                  { kind: "callback", conversation: item.conversation })) {
      this.cbState.set(key(item.conversation), "calling");
      this.renderCallbacks();
    }
  };

  Calls.prototype.loadDeclines = async function () {
    const result = await global.fristedApi.getJSON("/api/chat/canned");
    const list = result.status === 200 && result.data && result.data.decline_messages;
    if (Array.isArray(list) && list.length && list.every((t) => typeof t === "string" && t)) {
      this.declines = list.slice(0, 10);
      for (const r of this.rings.values()) { // cards made before the list came: make them again
        if (r.li && !r.stopped && !r.declineOpen) {
          const fresh = this.buildDecline(r, ++this.counter);
          r.parts.form.replaceWith(fresh);
          r.parts.form = fresh;
          r.parts.decline.setAttribute("aria-controls", fresh.id);
          this.renderRing(r);
        }
      }
    }
  };

  /* ---------------------------------------------------------------- the call in this page */

  Calls.prototype.watchRoom = function () {
    const room = this.room;
    room.on("state", () => this.renderPanel());
    room.on("media", () => this.renderPanel());
    room.on("roster", () => this.renderPanel());
    room.on("track", (t) => this.showTrack(t));
    room.on("trackended", () => this.renderRemote());
    room.on("ended", (e) => this.roomEnded(e));
    room.on("error", (err) => {
      this.desk.say(ERRORS[err.code] || "Lyd og billede kunne ikke sættes op.", "error", err.message || "");
    });
  };

  /** Camera and microphone for a call ("video" or "audio"); falls back to sound only, then nothing. */
  Calls.prototype.getLocal = async function (media) {
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) {
      return null;
    }
    const attempts = media === "audio" ? [{ audio: true }] : [{ audio: true, video: VIDEO }, { audio: true }];
    for (const constraints of attempts) {
      try {
        return await md.getUserMedia(constraints);
      } catch (err) {
        /* try the next, smaller wish */
      }
    }
    return null;
  };

  Calls.prototype.stopLocal = function () {
    if (this.local) {
      for (const t of this.local.getTracks()) {
        t.stop();
      }
      this.local = null;
    }
    $("call-self").srcObject = null;
    $("call-remote").srcObject = null;
  };

  /** Join the support room of an answered call, with room.knock {room} (the staff session is host). */
  Calls.prototype.enter = async function (conversation, room) {
    const k = key(conversation);
    const roomId = room && room.room;
    if (!roomId) {
      this.desk.say("Opkaldet har intet rum endnu.", "error");
      return;
    }
    if (this.call && this.call.key !== k) {
      this.desk.say("Du er allerede i et andet opkald.", "error");
      return;
    }
    const conv = this.desk.convs.get(k);
    const r = this.rings.get(k);
    const media = this.media.get(k) || "video";
    this.call = {
      key: k, ref: conversation, roomId: roomId, media: media, title: (room && room.title) || "",
      pseudonym: (conv && conv.pseudonym) || (r && r.info.pseudonym) || this.callbackName(k) || "borgeren",
      ended: null,
    };
    this.renderRings();
    this.renderPanel();
    this.desk.say("Du har taget opkaldet. Går ind i rummet …", "ok");
    this.stopLocal();
    const local = await this.getLocal(media);
    if (!this.call || this.call.key !== k) {
      if (local) {
        local.getTracks().forEach((t) => t.stop());
      }
      return;
    }
    this.local = local;
    const audio = local ? local.getAudioTracks()[0] || null : null;
    const video = local ? local.getVideoTracks()[0] || null : null;
    this.mic = !!audio;
    this.camera = !!video;
    await this.room.setTrack("audio", audio);
    await this.room.setTrack("video", video);
    $("call-self").srcObject = video ? new MediaStream([video]) : null;
    if (!local) {
      this.desk.say("Kamera og mikrofon kunne ikke bruges. Du går ind uden. Tjek browserens tilladelser.", "error");
    }
    try {
      await this.room.knock({ room: roomId }, null, this.camera);
      this.desk.say("Du er i opkaldet med " + this.call.pseudonym + ".", "ok");
      this.room.setMedia(this.camera, this.mic);
    } catch (err) {
      this.desk.say(ERRORS[err.code] || "Du kom ikke ind i opkaldets rum.", "error", err.message || "");
      this.call = null;
      this.stopLocal();
      this.renderRings();
    }
    this.renderPanel();
    this.desk.renderConversation();
  };

  Calls.prototype.callbackName = function (k) {
    const c = this.callbacks.find((x) => key(x.conversation) === k);
    return c ? c.pseudonym : "";
  };

  Calls.prototype.leaveRoom = function () {
    if (this.room.state !== "idle" && this.room.state !== "ended") {
      this.room.leave(); // "ended" follows at once and tidies up
    } else {
      this.roomEnded(null);
    }
  };

  Calls.prototype.roomEnded = function (e) {
    if (!this.call) {
      return;
    }
    const text = e ? ROOM_ENDED[e.kind] || ROOM_ENDED.closed : "";
    this.call = null;
    this.stopLocal();
    if (text) {
      this.desk.announce(text);
    }
    this.renderPanel();
    this.renderRings();
    this.renderCallbacks();
    this.desk.renderConversation();
  };

  Calls.prototype.showTrack = function (t) {
    if (t.pid && t.pid === this.room.pid) {
      return;
    }
    const video = $("call-remote");
    if (video.srcObject !== t.stream) {
      video.srcObject = t.stream;
    }
    const played = video.play();
    if (played && played.catch) {
      played.catch(() => { /* autoplay refused until the next click; the click handler retries */ });
    }
    this.renderRemote();
  };

  Calls.prototype.renderRemote = function () {
    const video = $("call-remote");
    const stream = video.srcObject;
    const pictures = stream ? stream.getVideoTracks().filter((t) => t.readyState === "live").length : 0;
    const other = this.room.roster.find((p) => p.pid !== this.room.pid && p.state === "inside");
    let text = "";
    if (!other) {
      text = "Venter på, at " + (this.call ? this.call.pseudonym : "borgeren") + " kommer ind …";
    } else if (!pictures || !other.camera) {
      text = this.call && this.call.media === "audio" ? "Kun lyd" : "Intet billede – kameraet er slukket";
    }
    $("call-remote-off").textContent = text;
    $("call-remote-off").hidden = !text;
    video.classList.toggle("is-off", !!text);
  };

  Calls.prototype.renderPanel = function () {
    const panel = $("call-panel");
    const call = this.call;
    panel.hidden = !call;
    if (!call) {
      return;
    }
    $("call-title").textContent = "Opkald med " + call.pseudonym + " · " + mediaName(call.media);
    const state = this.room.state;
    const mediaState = this.room.mediaState;
    let text;
    if (state === "joining" || state === "idle") {
      text = "Går ind i rummet …";
    } else if (state === "inside" && mediaState === "connected") {
      text = "Forbundet.";
    } else if (state === "inside" && mediaState === "reconnecting") {
      text = "Forbindelsen er ustabil – prøver igen …";
    } else if (state === "inside" && mediaState === "failed") {
      text = "Lyd og billede kom ikke igennem.";
    } else if (state === "inside") {
      text = "Forbinder lyd og billede …";
    } else {
      text = "";
    }
    $("call-state").textContent = text;
    const people = $("call-people");
    people.textContent = "";
    for (const p of this.room.roster) {
      const bits = [];
      if (p.pid === this.room.pid) {
        bits.push("dig");
      }
      if (p.state === "waiting") {
        bits.push("venter");
      }
      if (!p.camera) {
        bits.push("kamera fra");
      }
      if (!p.mic) {
        bits.push("lyd fra");
      }
      people.appendChild(make("li", "call-person", p.name + (bits.length ? " (" + bits.join(", ") + ")" : "")));
    }
    const mic = $("call-mic");
    mic.disabled = !this.local || !this.local.getAudioTracks().length;
    mic.setAttribute("aria-pressed", String(!this.mic));
    mic.textContent = this.mic ? "Slå lyd fra" : "Slå lyd til";
    const cam = $("call-camera");
    cam.hidden = call.media === "audio";
    cam.disabled = !this.local || !this.local.getVideoTracks().length;
    cam.setAttribute("aria-pressed", String(!this.camera));
    cam.textContent = this.camera ? "Kamera fra" : "Kamera til";
    $("call-self-box").hidden = call.media === "audio" || !this.camera;
    this.renderRemote();
  };

  Calls.prototype.toggleMic = function () {
    const track = this.local && this.local.getAudioTracks()[0];
    if (!track) {
      return;
    }
    this.mic = !this.mic;
    track.enabled = this.mic;
    this.room.setMedia(this.camera, this.mic);
    this.renderPanel();
  };

  Calls.prototype.toggleCamera = function () {
    const track = this.local && this.local.getVideoTracks()[0];
    if (!track) {
      return;
    }
    this.camera = !this.camera;
    track.enabled = this.camera; // no picture leaves this browser while off
    this.room.setMedia(this.camera, this.mic);
    this.renderPanel();
  };

  /** The conversation's call box (in place of the chat's messages): in the room or a way back in. */
  Calls.prototype.renderConversation = function (conv) {
    const box = $("conv-call");
    const text = $("conv-call-text");
    const join = $("conv-call-join");
    if (!conv || !isCall(conv) || conv.closed) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const here = this.call && this.call.key === conv.key;
    const roomId = this.rooms.get(conv.key);
    if (here) {
      text.textContent = "Du er i opkaldet. Lyd, billede og knapper står under «Opkald med " + this.call.pseudonym + "». " +
        "Skriv noter her, og afslut med registreringen, når I er færdige. Så lukkes rummet.";
      join.hidden = true;
    } else if (roomId) {
      text.textContent = "Du er ikke i opkaldets rum lige nu.";
      join.hidden = false;
      join.disabled = this.call !== null;
    } else {
      text.textContent = "Opkaldet er ikke forbundet.";
      join.hidden = true;
    }
  };

  /* ---------------------------------------------------------------- call-backs */

  Calls.prototype.renderCallbacks = function () {
    const list = $("callback-list");
    list.textContent = "";
    const n = this.callbacks.length;
    $("callbacks-title").textContent = n ? "Ring tilbage (" + n + ")" : "Ring tilbage";
    $("callbacks-empty").hidden = n !== 0;
    const now = Date.now() / 1000;
    for (const item of this.callbacks) {
      const k = key(item.conversation);
      const li = make("li", "callback-item" + (item.risk ? " is-risk" : ""));
      li.dataset.conversation = k;
      const info = make("div", "queue-info");
      const line = make("p", "queue-line");
      if (item.risk) {
        line.appendChild(make("span", "risk-badge", "I fare"));
      }
      line.appendChild(make("strong", "queue-name", item.pseudonym || "Borger"));
      line.appendChild(document.createTextNode(" · " + mediaName(item.media)));
      info.appendChild(line);
      const win = Array.isArray(item.window) ? item.window : null;
      const when = make("p", "callback-window");
      if (win) {
        let text = span(win[0], win[1]);
        if (now >= win[0] && now <= win[1]) {
          text += " (nu)";
        } else if (now > win[1]) {
          text += " (tiden er gået)";
        }
        when.textContent = text;
      }
      info.appendChild(when);
      const tries = Number(item.tries) || 0;
      info.appendChild(make("p", "queue-meta", (item.topic || "intet emne") + " · " +
        (tries === 0 ? "ikke ringet op endnu" : tries === 1 ? "ringet op 1 gang" : "ringet op " + tries + " gange")));
      const lost = item.citizen !== "connected";
      info.appendChild(make("p", "queue-presence" + (lost ? " is-lost" : ""),
        lost ? "Borgeren har ikke siden åben" : "Borgeren har siden åben"));
      const state = this.cbState.get(k) || "";
      const ringing = item.ringing === true || state === "ringing";
      let note = "";
      if (ringing) {
        note = "Ringer hos borgeren …";
      } else if (state === "calling") {
        note = "Ringer op …";
      } else if (state === "away") {
        note = "Borgeren havde ikke siden åben.";
      } else if (state.startsWith("unanswered:")) {
        note = "Intet svar (forsøg " + state.slice(11) + " af 3).";
      }
      const status = make("p", "callback-state" + (ringing ? " is-ringing" : ""), note);
      status.hidden = !note;
      info.appendChild(status);
      li.appendChild(info);
      const button = make("button", "button button-small callback-start", "Ring op nu");
      button.type = "button";
      button.disabled = !this.desk.connected || ringing || state === "calling" || this.call !== null;
      button.setAttribute("aria-label", "Ring op nu til " + (item.pseudonym || "borger"));
      button.addEventListener("click", () => this.callBack(item));
      li.appendChild(button);
      list.appendChild(li);
    }
  };

  /* ---------------------------------------------------------------- hours, roster, handover */

  Calls.prototype.renderHours = function () {
    const badge = $("hours-badge");
    badge.hidden = this.inHours !== false;
    const state = $("hours-state");
    if (this.inHours === null) {
      state.textContent = "";
      return;
    }
    let text = this.inHours ? "Inden for åbningstid." : "Uden for åbningstid.";
    const next = this.roster && Number(this.roster.next_open);
    if (!this.inHours && next) {
      text += " Åbner igen " + dayWord(next) + " kl. " + clockTime(next) + ".";
    }
    state.textContent = text;
    state.classList.toggle("is-closed", this.inHours === false);
  };

  Calls.prototype.renderRoster = function () {
    const now = $("roster-now");
    const shifts = $("roster-shifts");
    now.textContent = "";
    shifts.textContent = "";
    const roster = this.roster;
    if (!roster) {
      now.appendChild(make("li", "hint", "Henter vagtplanen …"));
      return;
    }
    const onDuty = Array.isArray(roster.on_duty) ? roster.on_duty : [];
    if (!onDuty.length) {
      now.appendChild(make("li", "hint", "Ingen er på vagt lige nu."));
    }
    for (const p of onDuty) {
      const li = make("li", "roster-person" + (p.present ? "" : " is-away"));
      li.appendChild(make("strong", null, p.name));
      li.appendChild(document.createTextNode(" (" + roleName(p.role) + ")"));
      li.appendChild(make("span", "roster-presence", p.present ? " · forbundet" : " · ikke forbundet"));
      now.appendChild(li);
    }
    const list = Array.isArray(roster.shifts) ? roster.shifts.slice() : [];
    list.sort((a, b) => a.from - b.from);
    $("roster-empty").hidden = list.length !== 0;
    const admin = this.desk.me.role === "admin";
    const names = new Set();
    const t = Date.now() / 1000;
    for (const s of list) {
      names.add(s.name);
      const li = make("li", "roster-shift" + (s.from <= t && t < s.to ? " is-now" : ""));
      li.dataset.shift = String(s.id);
      const text = make("p", "roster-shift-text");
      text.appendChild(make("span", "roster-when", span(s.from, s.to)));
      text.appendChild(document.createTextNode(" · "));
      text.appendChild(make("strong", null, s.name));
      text.appendChild(document.createTextNode(" (" + roleName(s.role) + ")"));
      li.appendChild(text);
      if (admin) {
        const remove = make("button", "button button-secondary button-small", "Fjern");
        remove.type = "button";
        remove.setAttribute("aria-label", "Fjern vagten " + span(s.from, s.to) + " for " + s.name);
        remove.addEventListener("click", () => this.send({ type: "roster.remove", shift: s.id }, { kind: "roster" }));
        li.appendChild(remove);
      }
      shifts.appendChild(li);
    }
    for (const p of onDuty) {
      names.add(p.name);
    }
    const datalist = $("shift-names");
    datalist.textContent = "";
    for (const name of Array.from(names).sort()) {
      const option = make("option");
      option.value = name;
      datalist.appendChild(option);
    }
    this.renderHours();
  };

  Calls.prototype.addShift = function () {
    const name = $("shift-name").value.trim();
    const day = $("shift-date").value;
    const from = $("shift-from").value;
    const to = $("shift-to").value;
    if (!name || !/^\d{4}-\d{2}-\d{2}$/.test(day) || !/^\d{2}:\d{2}$/.test(from) || !/^\d{2}:\d{2}$/.test(to)) {
      this.desk.say("Skriv medarbejder, dato og tidspunkter.", "error");
      return;
    }
    const [y, m, d] = day.split("-").map(Number);
    const [fh, fm] = from.split(":").map(Number);
    const [th, tm] = to.split(":").map(Number);
    const start = new Date(y, m - 1, d, fh, fm);
    let end = new Date(y, m - 1, d, th, tm);
    if (end <= start) {
      end = new Date(y, m - 1, d + 1, th, tm); // a night shift ends the next day
    }
    if (this.send({ type: "roster.add", name: name, from: Math.round(start / 1000), to: Math.round(end / 1000) },
                  { kind: "roster" })) {
      $("shift-name").value = "";
    }
  };

  Calls.prototype.renderHandover = function () {
    const list = $("handover-list");
    list.textContent = "";
    $("handover-empty").hidden = this.notes.length !== 0;
    const admin = this.desk.me.role === "admin";
    for (const note of this.notes) {
      const li = make("li", "handover-note");
      li.dataset.note = String(note.id);
      const head = make("p", "note-head", (note.author || "") + " · " + dayWord(note.ts) + " " + clockTime(note.ts));
      li.appendChild(head);
      li.appendChild(make("p", "note-text", note.text));
      if (note.expires) {
        li.appendChild(make("p", "hint handover-expires", "Slettes " + dayWord(note.expires) + " kl. " + clockTime(note.expires) + "."));
      }
      if (admin || note.author === this.desk.me.name) {
        const del = make("button", "button button-secondary button-small", "Slet");
        del.type = "button";
        del.setAttribute("aria-label", "Slet noten fra " + (note.author || "") + " " + clockTime(note.ts));
        del.addEventListener("click", () => this.send({ type: "handover.delete", note: note.id }, { kind: "handover" }));
        li.appendChild(del);
      }
      list.appendChild(li);
    }
  };

  Calls.prototype.addHandover = function () {
    const box = $("handover-text");
    const text = box.value.trim();
    if (!text) {
      box.setAttribute("aria-invalid", "true");
      box.focus();
      return;
    }
    box.removeAttribute("aria-invalid");
    const frame = { type: "handover.add", text: text };
    const hours = Number($("handover-hours").value);
    if (hours) {
      frame.hours = hours;
    }
    if (this.send(frame, { kind: "handover" })) {
      box.value = "";
      this.desk.say("Noten er gemt til næste vagt.", "ok");
    }
  };

  /* ---------------------------------------------------------------- wiring */

  Calls.prototype.bindUi = function () {
    this.on($("call-mic"), "click", this.toggleMic);
    this.on($("call-camera"), "click", this.toggleCamera);
    this.on($("call-end"), "click", function () {
      if (this.call) {
        this.desk.showForm(this.call.key, "end");
      }
    });
    this.on($("call-leave"), "click", function () {
      this.leaveRoom();
      this.desk.say(ROOM_ENDED.left, "ok");
    });
    this.on($("conv-call-join"), "click", function () {
      const conv = this.desk.activeConv();
      const roomId = conv && this.rooms.get(conv.key);
      if (roomId) {
        this.enter(conv.ref, { room: roomId });
      }
    });
    this.on($("shift-form"), "submit", function (event) {
      event.preventDefault();
      this.addShift();
    });
    this.on($("handover-form"), "submit", function (event) {
      event.preventDefault();
      this.addHandover();
    });
    // A click lets a refused autoplay of the caller's sound start.
    this.on(document, "pointerdown", function () {
      const video = $("call-remote");
      if (this.call && video.srcObject && video.paused) {
        video.play().catch(() => {});
      }
    });
  };

  global.fristedCalls = {
    create: function (desk, alerter) {
      return new Calls(desk, alerter);
    },
    isCall: isCall,
    mediaName: mediaName,
  };
})(window);
