/* fristed: the "Videorum" part of the staff page: list the open video rooms, make one, make an
   invitation (link + QR code), enter a room, close it. Needs /static/api.js first.
   It starts by itself when the signed-in part of the page is shown (after login) and stops when it
   is hidden again. The CSRF value comes from /api/me and is kept in memory only. */
"use strict";

(function () {
  const api = window.fristedApi;
  const REFRESH_MS = 15000;
  const KINDS = { support: "Samtale 1:1", group: "Gruppe" };
  const VALIDITY = [
    { minutes: 60, label: "1 time" },
    { minutes: 1440, label: "1 døgn" },
    { minutes: 10080, label: "1 uge" },
  ];
  const DEFAULT_VALIDITY = 1440;

  const el = {
    signedIn: document.getElementById("signed-in"),
    section: document.getElementById("rooms"),
    status: document.getElementById("rooms-status"),
    form: document.getElementById("room-create"),
    title: document.getElementById("room-title"),
    createButton: document.getElementById("room-create-button"),
    list: document.getElementById("room-list"),
    empty: document.getElementById("rooms-empty"),
  };
  if (!api || !el.signedIn || !el.section) {
    return;
  }

  let csrf = null;
  let running = false;
  let timer = null;
  let loading = false;
  const items = new Map(); // room id → {li, room, parts}
  let counter = 0;

  function say(text, kind, detail) {
    el.status.className = "rooms-status" + (kind ? " is-" + kind : "");
    el.status.textContent = text;
    if (detail) {
      const span = document.createElement("span");
      span.className = "detail";
      span.lang = "en";
      span.textContent = detail;
      el.status.appendChild(span);
    }
  }

  function problem(result, fallback) {
    if (result.status === 0) {
      say("Der er ingen forbindelse til Fristed. Tjek netværket, og prøv igen.", "error");
    } else if (result.status === 401) {
      say("Du er ikke længere logget ind. Log ind igen.", "error");
    } else if (result.status === 429) {
      say("For mange forsøg. Vent " + api.waitSeconds(result) + " sekunder.", "error");
    } else if (result.status === 404) {
      say("Rummet findes ikke længere. Det er måske lukket.", "error");
      load();
    } else if (result.status === 403) {
      say("Det har du ikke lov til i dette rum.", "error", api.reasonOf(result));
    } else {
      say(fallback, "error", api.reasonOf(result));
    }
  }

  function make(tag, className, text) {
    return window.fristedUi.make(tag, className, text);
  }

  function kindName(kind) {
    return Object.prototype.hasOwnProperty.call(KINDS, kind) ? KINDS[kind] : String(kind);
  }

  function people(room) {
    const inside = Number(room.in_room) || 0;
    const waiting = Number(room.waiting) || 0;
    const parts = [
      inside === 1 ? "1 person inde" : inside + " personer inde",
      waiting + " venter",
    ];
    const links = Number(room.live_invites) || 0;
    parts.push(links === 1 ? "1 link virker" : links + " links virker");
    return parts.join(" · ");
  }

  function when(ts) {
    const d = new Date(Number(ts) * 1000);
    if (!Number.isFinite(d.getTime())) {
      return "";
    }
    return d.toLocaleString("da-DK", { day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" });
  }

  /* ------------------------------------------------------------------ one room */

  function buildItem(room) {
    const id = ++counter;
    const li = make("li", "room-item card");
    li.dataset.room = room.room;
    const head = make("div", "room-head");
    const title = make("h4", "room-title");
    title.id = "room-t-" + id;
    const meta = make("p", "room-meta");
    meta.id = "room-m-" + id;
    head.append(title, meta);
    li.appendChild(head);

    // The invitation: options, then the button.
    const inviteForm = make("form", "room-invite");
    inviteForm.noValidate = true;
    inviteForm.setAttribute("aria-label", "Invitation til " + room.title);
    const validityField = make("div", "inline-field");
    const validityLabel = make("label", "", "Linket virker i");
    const validity = make("select", "room-validity");
    validity.id = "room-v-" + id;
    validityLabel.htmlFor = validity.id;
    for (const choice of VALIDITY) {
      const option = make("option", "", choice.label);
      option.value = String(choice.minutes);
      option.selected = choice.minutes === DEFAULT_VALIDITY;
      validity.appendChild(option);
    }
    validityField.append(validityLabel, validity);
    const single = make("input");
    single.type = "checkbox";
    single.checked = true;
    single.id = "room-s-" + id;
    const singleLabel = make("label", "check");
    singleLabel.htmlFor = single.id;
    singleLabel.append(single, document.createTextNode(" Kun til én person (linket kan bruges én gang)"));
    const inviteButton = make("button", "button room-invite-button", "Lav invitation");
    inviteButton.type = "submit";
    inviteButton.setAttribute("aria-describedby", title.id);
    inviteForm.append(validityField, singleLabel, inviteButton);
    li.appendChild(inviteForm);

    // Where the invitation is shown.
    const result = make("div", "room-invite-result");
    result.hidden = true;
    result.setAttribute("tabindex", "-1");
    li.appendChild(result);

    // Enter and close.
    const actions = make("div", "button-row room-actions");
    const enter = make("a", "button button-secondary room-enter", "Gå ind i rummet");
    enter.href = "/room#room=" + encodeURIComponent(room.room);
    enter.target = "_blank";
    enter.rel = "noopener noreferrer";
    enter.setAttribute("aria-describedby", title.id);
    const close = make("button", "button button-secondary room-close", "Luk rummet");
    close.type = "button";
    close.setAttribute("aria-describedby", title.id);
    close.setAttribute("aria-expanded", "false");
    actions.append(enter, close);
    li.appendChild(actions);

    const confirm = make("div", "room-confirm");
    confirm.hidden = true;
    confirm.setAttribute("role", "group");
    confirm.setAttribute("aria-label", "Luk rummet " + room.title);
    const question = make("p", "", "Vil du lukke rummet? Alle links holder op med at virke, og alle i rummet bliver sendt ud.");
    question.setAttribute("tabindex", "-1");
    const confirmRow = make("div", "button-row");
    const yes = make("button", "button button-close-room", "Ja, luk rummet");
    yes.type = "button";
    const no = make("button", "button button-secondary", "Fortryd");
    no.type = "button";
    confirmRow.append(yes, no);
    confirm.append(question, confirmRow);
    li.appendChild(confirm);

    const item = { li: li, room: room, title: title, meta: meta, result: result };

    inviteForm.addEventListener("submit", function (event) {
      event.preventDefault();
      makeInvite(item, Number(validity.value), single.checked, inviteButton);
    });
    close.addEventListener("click", function () {
      confirm.hidden = false;
      close.setAttribute("aria-expanded", "true");
      question.focus();
    });
    no.addEventListener("click", function () {
      confirm.hidden = true;
      close.setAttribute("aria-expanded", "false");
      close.focus();
    });
    yes.addEventListener("click", function () {
      closeRoom(item, yes);
    });
    return item;
  }

  function updateItem(item, room) {
    item.room = room;
    item.title.textContent = room.title;
    item.meta.textContent = kindName(room.kind) + " · " + people(room);
  }

  function showInvite(item, invite) {
    const box = item.result;
    box.textContent = "";
    const n = ++counter;
    const heading = make("p", "room-invite-title", "Invitationen er klar");
    const label = make("label", "", "Link til invitationen");
    const link = make("input", "room-invite-link");
    link.type = "text";
    link.readOnly = true;
    link.value = invite.url;
    link.id = "room-l-" + n;
    label.htmlFor = link.id;
    link.addEventListener("focus", function () {
      link.select();
    });
    const copyRow = make("div", "button-row");
    const copy = make("button", "button button-secondary room-copy", "Kopiér linket");
    copy.type = "button";
    const copied = make("span", "room-copied");
    copied.setAttribute("aria-live", "polite");
    copyRow.append(copy, copied);
    copy.addEventListener("click", function () {
      copyLink(link, copied);
    });
    const facts = make("p", "hint");
    const expires = when(invite.expires);
    facts.textContent = (invite.single_use ? "Kan bruges én gang. " : "Kan bruges flere gange. ") +
      (expires ? "Virker til " + expires + "." : "");
    const qr = make("img", "qr room-qr");
    qr.src = invite.qr;
    qr.alt = "QR-kode til invitationen";
    const qrHint = make("p", "hint", "Borgeren kan scanne QR-koden med mobilens kamera.");
    box.append(heading, label, link, copyRow, facts, qr, qrHint);
    box.hidden = false;
    box.focus();
  }

  async function copyLink(input, copied) {
    let done = false;
    try {
      if (navigator.clipboard && navigator.clipboard.writeText) {
        await navigator.clipboard.writeText(input.value);
        done = true;
      }
    } catch (err) {
      done = false;
    }
    if (!done) {
      input.focus();
      input.select();
      try {
        done = document.execCommand("copy");
      } catch (err) {
        done = false;
      }
    }
    copied.textContent = done ? "Linket er kopieret." : "Markér linket, og kopiér det selv (Ctrl+C).";
  }

  /* ------------------------------------------------------------------ talking to the node */

  async function ensureCsrf() {
    if (csrf) {
      return true;
    }
    const me = await api.getJSON("/api/me");
    if (me.status === 200 && me.data && me.data.csrf) {
      csrf = me.data.csrf;
      return true;
    }
    problem(me, "Vi kunne ikke hente dine oplysninger.");
    return false;
  }

  async function post(url, body) {
    if (!(await ensureCsrf())) {
      return null;
    }
    let result = await api.postJSON(url, body, csrf);
    if (result.status === 403 && result.data && result.data.error === "csrf") {
      csrf = null; // a new login in another tab: fetch the value again, once
      if (!(await ensureCsrf())) {
        return null;
      }
      result = await api.postJSON(url, body, csrf);
    }
    return result;
  }

  async function load() {
    if (!running || loading) {
      return;
    }
    loading = true;
    let result;
    try {
      result = await api.getJSON("/api/rooms");
    } finally {
      loading = false;
    }
    if (!running) {
      return;
    }
    if (result.status !== 200 || !result.data || !Array.isArray(result.data.rooms)) {
      problem(result, "Vi kunne ikke hente listen over rum.");
      return;
    }
    render(result.data.rooms);
  }

  function render(rooms) {
    const seen = new Set();
    let previous = null;
    for (const room of rooms) {
      if (!room || typeof room.room !== "string") {
        continue;
      }
      seen.add(room.room);
      let item = items.get(room.room);
      if (!item) {
        item = buildItem(room);
        items.set(room.room, item);
      }
      updateItem(item, room);
      // Keep the node's order (newest first) without moving an item that is already in place.
      const want = previous ? previous.nextSibling : el.list.firstChild;
      if (want !== item.li) {
        el.list.insertBefore(item.li, want);
      }
      previous = item.li;
    }
    for (const [id, item] of items) {
      if (!seen.has(id)) {
        item.li.remove();
        items.delete(id);
      }
    }
    el.empty.hidden = items.size > 0;
  }

  async function create(event) {
    event.preventDefault();
    const title = el.title.value.trim();
    el.title.removeAttribute("aria-invalid");
    if (!title) {
      say("Skriv en titel på rummet.", "error");
      el.title.setAttribute("aria-invalid", "true");
      el.title.focus();
      return;
    }
    const checked = el.form.querySelector('input[name="kind"]:checked');
    const kind = checked ? checked.value : "support";
    el.createButton.disabled = true;
    let result;
    try {
      result = await post("/api/rooms", { kind: kind, title: title });
    } finally {
      el.createButton.disabled = false;
    }
    if (!result) {
      return;
    }
    if (result.status === 201 && result.data && result.data.room) {
      el.title.value = "";
      say("Rummet «" + result.data.title + "» er oprettet.", "ok");
      await load();
      const item = items.get(result.data.room);
      if (item) {
        item.title.setAttribute("tabindex", "-1");
        item.title.focus();
      }
      return;
    }
    problem(result, "Det lykkedes ikke at oprette rummet.");
  }

  async function makeInvite(item, minutes, singleUse, button) {
    button.disabled = true;
    let result;
    try {
      result = await post("/api/rooms/" + encodeURIComponent(item.room.room) + "/invites",
        { role: "guest", single_use: singleUse, ttl_minutes: minutes });
    } finally {
      button.disabled = false;
    }
    if (!result) {
      return;
    }
    if (result.status === 201 && result.data && typeof result.data.url === "string") {
      say("");
      showInvite(item, result.data);
      load();
      return;
    }
    problem(result, "Det lykkedes ikke at lave en invitation.");
  }

  async function closeRoom(item, button) {
    button.disabled = true;
    let result;
    try {
      result = await post("/api/rooms/" + encodeURIComponent(item.room.room) + "/close", {});
    } finally {
      button.disabled = false;
    }
    if (!result) {
      return;
    }
    if (result.status === 200 || result.status === 404) {
      say("Rummet «" + item.room.title + "» er lukket.", "ok");
      item.li.remove();
      items.delete(item.room.room);
      el.empty.hidden = items.size > 0;
      el.title.focus();
      load();
      return;
    }
    problem(result, "Det lykkedes ikke at lukke rummet.");
  }

  /* ------------------------------------------------------------------ start and stop with the login */

  function start() {
    if (running) {
      return;
    }
    running = true;
    csrf = null;
    load();
    timer = window.setInterval(load, REFRESH_MS);
  }

  function stop() {
    running = false;
    csrf = null;
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
    for (const item of items.values()) {
      item.li.remove();
    }
    items.clear();
    el.empty.hidden = false;
    say("");
  }

  function follow() {
    if (el.signedIn.hidden) {
      stop();
    } else {
      start();
    }
  }

  el.form.addEventListener("submit", create);
  new MutationObserver(follow).observe(el.signedIn, { attributes: true, attributeFilter: ["hidden"] });
  follow();
})();
