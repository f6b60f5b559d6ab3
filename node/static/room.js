/* fristed: the video room page (/room#invite=TOKEN, /room#room=ID for staff who are logged in, or
   /room#pass=TOKEN&media=audio|video for a citizen whose call has just been answered).
   Needs /static/api.js and /static/protocol.js first. Page logic only: the protocol lives in
   protocol.js (RoomClient). Words live in STRINGS below (Danish first). */
"use strict";

(function () {
  const P = window.fristedProtocol;
  const UI_KEY = "ui";            // sessionStorage: chosen language (shared with the chat page)
  const LINK_KEY = "room-view";   // sessionStorage: this tab's link, so a reload can get in again
  const MAX_TILES = 6;            // remote videos on screen; everyone is heard
  const MEDIA_TIMEOUT_MS = 15000; // no sound or picture after this long: say so, open the chat
  const STALL_MS = 4000;          // a remote picture with no new frame for this long counts as off
  const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 20, max: 24 },
                  facingMode: "user" };

  /* ------------------------------------------------------------------ words */

  const STRINGS = {
    da: {
      langButton: "English",
      title: "Fristed – videomøde",
      loading: "Vent lidt …",
      startTitle: "Du er inviteret til et videomøde",
      startLead: "Her kan du tale med en fra værestedet. Du behøver ikke installere noget.",
      promiseSeen: "Du kan altid se, hvem der er med.",
      promiseRecord: "Intet bliver optaget.",
      promiseLeave: "Du kan gå når som helst med knappen »Forlad«.",
      nameLabel: "Hvad vil du kaldes?",
      nameHint: "Du behøver ikke skrive dit rigtige navn. Skriver du ikke noget, finder vi et navn til dig.",
      mediaExplain: "Når du trykker på knappen, spørger din telefon eller computer, om vi må bruge kameraet og mikrofonen. Tryk »Tillad«. Kun dem i rummet kan se og høre dig.",
      joinVideo: "Gå ind med kamera og lyd",
      joinAudio: "Gå ind kun med lyd",
      joinNone: "Gå ind uden kamera og mikrofon",
      joining: "Går ind …",
      deviceTestLink: "Test dit kamera og din mikrofon først",
      noLink: "Der mangler et link til rummet. Brug det link eller den QR-kode, du har fået.",
      lobbyTitle: "Vent lidt — værten lukker dig ind",
      lobbyLead: "Værten kan se, at du venter. Du kan gå igen når som helst.",
      lobbyNoHost: "Værten er ikke kommet endnu.",
      selfOff: "Dit kamera er slukket.",
      selfOffShort: "Kamera slukket",
      roomHeading: "Videomødet",
      alone: "Der er ingen andre i rummet endnu.",
      you: "Dig",
      youSuffix: "(dig)",
      hostSuffix: "(vært)",
      waitingTag: "venter",
      awayTag: "forbinder igen …",
      cameraOffTag: "kamera fra",
      micOffTag: "lyd fra",
      tileCameraOff: "Kamera slukket",
      tileAudioOnly: "Kun lyd",
      tileNoPicture: "Intet billede lige nu",
      tileMicOff: "Lyd fra",
      peopleTitle: "Med i rummet",
      peopleNote: "Alle, der er med eller venter, står her. Ingen kan lytte med i skjul.",
      knockingTitle: "Venter på at komme ind",
      admit: "Luk ind",
      decline: "Afvis",
      remove: "Send ud",
      admitLabel: "Luk {name} ind",
      declineLabel: "Afvis {name}",
      removeLabel: "Send {name} ud af rummet",
      knockTitle: "({n}) venter – Fristed",
      chatTitle: "Skriv",
      chatHint: "Virker lyd eller billede ikke, kan I skrive her.",
      chatLabel: "Din besked",
      chatButton: "Skriv",
      chatButtonNew: "Skriv ({n} ny)",
      send: "Send",
      chatEmpty: "Skriv en besked først.",
      mute: "Slå lyd fra",
      unmute: "Slå lyd til",
      cameraOff: "Kamera fra",
      cameraOn: "Kamera til",
      audioOnly: "Kun lyd",
      audioOnlyOff: "Vis billeder",
      leave: "Forlad",
      hangup: "Læg på",
      endedLeftTitle: "Du har forladt rummet",
      endedLeft: "Tak for nu.",
      endedClosedTitle: "Mødet er slut",
      endedClosed: "Værten har lukket rummet.",
      endedRemovedTitle: "Du er ikke længere i rummet",
      endedRemoved: "Værten har bedt dig om at gå.",
      endedDeclinedTitle: "Du blev ikke lukket ind",
      endedDeclined: "Værten kan ikke lukke dig ind lige nu.",
      endedRefusedTitle: "Du kom ikke ind igen",
      endedCare: "Pas godt på dig selv. Er du i fare, så ring 112.",
      hostSaid: "Værten skrev: »{reason}«",
      rejoin: "Gå ind igen",
      connLost: "Forbindelsen er tabt — prøver igen",
      connBack: "Forbindelsen er tilbage.",
      mediaSlow: "Vi kan ikke få lyd og billede igennem lige nu. I kan stadig skrive sammen her.",
      err_invite_expired: "Linket er for gammelt. Bed om et nyt link.",
      err_invite_used: "Linket er allerede brugt. Bed om et nyt link.",
      err_invite_invalid: "Linket virker ikke. Tjek, at du har hele linket, eller bed om et nyt.",
      err_unknown_room: "Rummet findes ikke længere. Måske er mødet slut.",
      err_room_full: "Rummet er fuldt lige nu. Prøv igen om lidt.",
      err_bad_name: "Brug kun bogstaver, tal og mellemrum i navnet. Eller lad feltet stå tomt.",
      err_not_host: "Det kan kun værten gøre.",
      err_forbidden: "Det må du ikke her.",
      err_offline: "Der er ingen forbindelse lige nu. Prøv igen om lidt.",
      err_timeout: "Det tog for lang tid. Prøv igen.",
      err_other: "Det lykkedes ikke. Prøv igen.",
      denied: "Du har ikke givet lov til kamera og mikrofon. Du kan gå ind alligevel og skrive, eller give lov i browserens indstillinger og prøve igen.",
      noDevice: "Vi kan ikke finde et kamera eller en mikrofon. Du kan gå ind kun med lyd, eller uden.",
      busyDevice: "Kameraet eller mikrofonen bruges måske af et andet program. Luk det, og prøv igen.",
      noCameraAudioOk: "Kameraet virker ikke, men mikrofonen gør. Du går ind kun med lyd.",
      cameraFailed: "Kameraet kunne ikke tændes.",
      noMedia: "Denne browser kan ikke bruge kamera og mikrofon. Du kan stadig gå ind og skrive.",
      controls: "Knapper",
      callConnecting: "Vi forbinder dig nu …",
      callConnectingAudio: "Vi forbinder dig nu. Kameraet er slukket. I kan kun høre hinanden.",
      callMediaNote: "Vi kan ikke bruge din mikrofon. Du kan stadig skrive i rummet.",
      endedCallTitle: "Opkaldet er slut",
      endedCallLeft: "Du har lagt på. Tak for snakken.",
      endedCallClosed: "Opkaldet er slut. Tak for snakken.",
      err_unknown_resume: "Opkaldet er slut, eller linket virker ikke mere. Du kan ringe igen fra Fristed.",
      backToChat: "Tilbage til Fristed",
    },
    en: {
      langButton: "Dansk",
      title: "Fristed – video meeting",
      loading: "One moment …",
      startTitle: "You are invited to a video meeting",
      startLead: "Here you can talk to someone from the drop-in centre. You do not need to install anything.",
      promiseSeen: "You can always see who is here.",
      promiseRecord: "Nothing is recorded.",
      promiseLeave: "You can go at any time with the «Leave» button.",
      nameLabel: "What should we call you?",
      nameHint: "You do not have to use your real name. If you write nothing, we will find a name for you.",
      mediaExplain: "When you press the button, your phone or computer asks whether we may use the camera and microphone. Press «Allow». Only the people in the room can see and hear you.",
      joinVideo: "Go in with camera and sound",
      joinAudio: "Go in with sound only",
      joinNone: "Go in without camera and microphone",
      joining: "Going in …",
      deviceTestLink: "Test your camera and microphone first",
      noLink: "The link to the room is missing. Use the link or QR code you were given.",
      lobbyTitle: "One moment — the host will let you in",
      lobbyLead: "The host can see that you are waiting. You can leave at any time.",
      lobbyNoHost: "The host has not arrived yet.",
      selfOff: "Your camera is off.",
      selfOffShort: "Camera off",
      roomHeading: "The video meeting",
      alone: "Nobody else is in the room yet.",
      you: "You",
      youSuffix: "(you)",
      hostSuffix: "(host)",
      waitingTag: "waiting",
      awayTag: "reconnecting …",
      cameraOffTag: "camera off",
      micOffTag: "sound off",
      tileCameraOff: "Camera off",
      tileAudioOnly: "Sound only",
      tileNoPicture: "No picture right now",
      tileMicOff: "Sound off",
      peopleTitle: "In the room",
      peopleNote: "Everyone who is here or waiting is listed. Nobody can listen in secret.",
      knockingTitle: "Waiting to come in",
      admit: "Let in",
      decline: "Turn away",
      remove: "Ask to leave",
      admitLabel: "Let {name} in",
      declineLabel: "Turn {name} away",
      removeLabel: "Ask {name} to leave the room",
      knockTitle: "({n}) waiting – Fristed",
      chatTitle: "Write",
      chatHint: "If sound or picture does not work, you can write here.",
      chatLabel: "Your message",
      chatButton: "Write",
      chatButtonNew: "Write ({n} new)",
      send: "Send",
      chatEmpty: "Write a message first.",
      mute: "Sound off",
      unmute: "Sound on",
      cameraOff: "Camera off",
      cameraOn: "Camera on",
      audioOnly: "Sound only",
      audioOnlyOff: "Show pictures",
      leave: "Leave",
      hangup: "Hang up",
      endedLeftTitle: "You have left the room",
      endedLeft: "Thank you.",
      endedClosedTitle: "The meeting has ended",
      endedClosed: "The host has closed the room.",
      endedRemovedTitle: "You are no longer in the room",
      endedRemoved: "The host has asked you to leave.",
      endedDeclinedTitle: "You were not let in",
      endedDeclined: "The host cannot let you in right now.",
      endedRefusedTitle: "You could not get back in",
      endedCare: "Take good care of yourself. If you are in danger, call 112.",
      hostSaid: "The host wrote: «{reason}»",
      rejoin: "Go in again",
      connLost: "The connection is lost — trying again",
      connBack: "The connection is back.",
      mediaSlow: "We cannot get sound and picture through right now. You can still write to each other here.",
      err_invite_expired: "The link is too old. Ask for a new link.",
      err_invite_used: "The link has been used already. Ask for a new link.",
      err_invite_invalid: "The link does not work. Check that you have the whole link, or ask for a new one.",
      err_unknown_room: "The room no longer exists. Perhaps the meeting is over.",
      err_room_full: "The room is full right now. Try again in a moment.",
      err_bad_name: "Use only letters, numbers and spaces in the name. Or leave it empty.",
      err_not_host: "Only the host can do that.",
      err_forbidden: "You cannot do that here.",
      err_offline: "There is no connection right now. Try again in a moment.",
      err_timeout: "That took too long. Try again.",
      err_other: "That did not work. Try again.",
      denied: "You have not allowed the camera and microphone. You can go in anyway and write, or allow them in the browser's settings and try again.",
      noDevice: "We cannot find a camera or a microphone. You can go in with sound only, or without.",
      busyDevice: "Another program may be using the camera or microphone. Close it and try again.",
      noCameraAudioOk: "The camera does not work, but the microphone does. You go in with sound only.",
      cameraFailed: "The camera could not be switched on.",
      noMedia: "This browser cannot use a camera and microphone. You can still go in and write.",
      controls: "Controls",
      callConnecting: "We are connecting you now …",
      callConnectingAudio: "We are connecting you now. The camera is off. You can only hear each other.",
      callMediaNote: "We cannot use your microphone. You can still write in the room.",
      endedCallTitle: "The call has ended",
      endedCallLeft: "You hung up. Thank you for talking with us.",
      endedCallClosed: "The call has ended. Thank you for talking with us.",
      err_unknown_resume: "The call has ended, or the link no longer works. You can call again from Fristed.",
      backToChat: "Back to Fristed",
    },
  };

  /* ------------------------------------------------------------------ state */

  function readStore(key) {
    try {
      const value = JSON.parse(window.sessionStorage.getItem(key) || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (err) {
      return {};
    }
  }

  function writeStore(key, value) {
    try {
      if (value === null) {
        window.sessionStorage.removeItem(key);
      } else {
        window.sessionStorage.setItem(key, JSON.stringify(value));
      }
    } catch (err) {
      /* storage blocked: the page still works, only reload is lost */
    }
  }

  const ui = readStore(UI_KEY);
  let lang = ui.lang === "en" ? "en" : "da";
  const link = takeLink();

  let view = "loading";
  let endedInfo = null;        // {kind, reason, code}
  let micOn = false;
  let cameraOn = false;
  let audioOnly = false;
  let chatOpen = false;
  let unread = 0;
  let connDown = false;        // the banner shows "lost"
  let backTimer = 0;
  let mediaTimer = 0;
  let joining = false;
  let roster = [];
  let camStream = null;        // the camera and microphone we hold
  let unloading = false;       // the tab is going away (a reload, or closing)

  const conn = new P.Connection();
  const room = new P.RoomClient(conn);
  const tiles = new Map();     // pid -> {li, video, audio, off, name, mic, lastFrame}

  const $ = (id) => document.getElementById(id);
  const el = {
    title: $("room-title"),
    langButton: $("lang-button"),
    connStatus: $("conn-status"),
    views: { loading: $("view-loading"), start: $("view-start"), lobby: $("view-lobby"),
             room: $("view-room"), ended: $("view-ended") },
    startTitle: $("start-title"),
    startForm: $("start-form"),
    name: $("name"),
    startError: $("start-error"),
    joinVideo: $("join-video"),
    joinAudio: $("join-audio"),
    joinNone: $("join-none"),
    lobbyTitle: $("lobby-title"),
    lobbyNoHost: $("lobby-nohost"),
    lobbySelf: $("lobby-self"),
    lobbySelfOff: $("lobby-self-off"),
    roomHeading: $("room-heading"),
    knocking: $("knocking"),
    knockingList: $("knocking-list"),
    tiles: $("tiles"),
    alone: $("alone"),
    selfTile: $("self-tile"),
    selfVideo: $("self-video"),
    selfOff: $("self-off"),
    audioSink: $("audio-sink"),
    endedTitle: $("ended-title"),
    endedReason: $("ended-reason"),
    rejoin: $("rejoin-button"),
    backToChat: $("back-to-chat"),
    loadingText: $("loading-text"),
    people: $("people"),
    peopleList: $("people-list"),
    chat: $("chat"),
    chatLog: $("chat-log"),
    chatForm: $("chat-form"),
    chatText: $("chat-text"),
    controls: $("controls"),
    micButton: $("mic-button"),
    cameraButton: $("camera-button"),
    audioOnlyButton: $("audio-only-button"),
    chatButton: $("chat-button"),
    leaveButton: $("leave-button"),
  };

  /* ------------------------------------------------------------------ helpers */

  function t(key, vars) {
    return window.fristedUi.translate(STRINGS, lang, key, vars);
  }

  function make(tag, className, text) {
    return window.fristedUi.make(tag, className, text);
  }

  function clockTime(ts) {
    return window.fristedUi.clockTime(ts);
  }

  /** The link from the address (#invite=…, #room=… or #pass=…), dropped from the address bar at once. */
  function takeLink() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    let found = null;
    const invite = params.get("invite");
    const roomId = params.get("room");
    const pass = params.get("pass");
    if (pass && pass.length <= 128) {
      // A call's room pass: room.resume, straight in. Audio-only calls start with the camera off.
      found = { pass: pass, media: params.get("media") === "audio" ? "audio" : "video" };
    } else if (invite && invite.length <= 512) {
      found = { invite: invite };
    } else if (roomId && /^[A-Za-z0-9_-]{1,64}$/.test(roomId)) {
      found = { room: roomId };
    }
    if (window.location.hash) {
      try {
        window.history.replaceState(null, "", window.location.pathname + window.location.search);
      } catch (err) {
        /* the address keeps the hash; nothing else to do */
      }
    }
    if (found) {
      writeStore(LINK_KEY, found);
      return found;
    }
    const saved = readStore(LINK_KEY); // a reload of this tab
    if (typeof saved.pass === "string") {
      return { pass: saved.pass, media: saved.media === "audio" ? "audio" : "video" };
    }
    if (typeof saved.invite === "string") {
      return { invite: saved.invite };
    }
    if (typeof saved.room === "string") {
      return { room: saved.room };
    }
    return null;
  }

  function errorText(err) {
    const code = err && err.code ? err.code : "other";
    return Object.prototype.hasOwnProperty.call(STRINGS.da, "err_" + code) ? t("err_" + code) : t("err_other");
  }

  /* ------------------------------------------------------------------ views */

  function show(name, focus) {
    view = name;
    for (const key of Object.keys(el.views)) {
      el.views[key].hidden = key !== name;
    }
    const inside = name === "lobby" || name === "room";
    el.people.hidden = !inside;
    el.controls.hidden = !inside;
    el.chat.hidden = !(name === "room" && chatOpen);
    document.body.classList.toggle("in-room", name === "room");
    document.body.classList.toggle("has-controls", inside);
    renderControls();
    if (focus) {
      const heading = { start: el.startTitle, lobby: el.lobbyTitle, room: el.roomHeading,
                        ended: el.endedTitle }[name];
      if (heading) {
        heading.focus();
      }
    }
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.getAttribute("data-i18n"));
    }
    el.langButton.textContent = t("langButton");
    el.langButton.lang = lang === "da" ? "en" : "da";
    el.controls.setAttribute("aria-label", t("controls"));
    renderTitle();
    renderControls();
    renderPeople();
    renderTiles();
    renderEnded();
    renderBanner();
  }

  function toggleLanguage() {
    lang = lang === "da" ? "en" : "da";
    const saved = readStore(UI_KEY);
    saved.lang = lang;
    writeStore(UI_KEY, saved);
    applyLanguage();
  }

  function renderTitle() {
    el.title.textContent = room.title || "Fristed";
  }

  /* ------------------------------------------------------------------ banner */

  function renderBanner() {
    const box = el.connStatus;
    if (connDown) {
      box.className = "status is-error";
      box.textContent = t("connLost");
    } else if (backTimer) {
      box.className = "status is-ok";
      box.textContent = t("connBack");
    } else {
      box.className = "status";
      box.textContent = "";
    }
  }

  function setConnDown(down) {
    if (down === connDown) {
      return;
    }
    connDown = down;
    document.body.classList.toggle("conn-lost", down);
    window.clearTimeout(backTimer);
    backTimer = 0;
    if (!down) {
      backTimer = window.setTimeout(() => { backTimer = 0; renderBanner(); }, 4000);
    }
    renderBanner();
  }

  function inCall() {
    return view === "lobby" || view === "room";
  }

  /* ------------------------------------------------------------------ devices */

  function hasMedia() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function mediaError(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return t("denied");
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return t("noDevice");
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return t("busyDevice");
    }
    return t("err_other");
  }

  /** Ask for what the citizen chose. Resolves {ok, note}; on refusal the citizen can still go in. */
  async function getDevices(wantVideo, wantAudio) {
    if (!wantVideo && !wantAudio) {
      return { ok: true, note: "" };
    }
    if (!hasMedia()) {
      return { ok: false, note: t("noMedia") };
    }
    try {
      camStream = await navigator.mediaDevices.getUserMedia({ audio: wantAudio, video: wantVideo ? VIDEO : false });
    } catch (err) {
      if (wantVideo && wantAudio && err && err.name !== "NotAllowedError") {
        try { // the camera alone may be the problem: sound only then
          camStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
          return { ok: true, note: t("noCameraAudioOk") };
        } catch (err2) {
          return { ok: false, note: mediaError(err2) };
        }
      }
      return { ok: false, note: mediaError(err) };
    }
    return { ok: true, note: "" };
  }

  function localTrack(kind) {
    if (!camStream) {
      return null;
    }
    const list = kind === "audio" ? camStream.getAudioTracks() : camStream.getVideoTracks();
    return list.find((track) => track.readyState === "live") || null;
  }

  function useTracks() {
    const audio = localTrack("audio");
    const video = localTrack("video");
    micOn = Boolean(audio && audio.enabled);
    cameraOn = Boolean(video);
    room.setTrack("audio", audio);
    room.setTrack("video", video);
    showSelf();
  }

  function showSelf() {
    const video = localTrack("video");
    const stream = video ? new MediaStream([video]) : null;
    for (const target of [el.selfVideo, el.lobbySelf]) {
      if (target.srcObject !== stream) {
        target.srcObject = stream;
      }
    }
    el.selfOff.hidden = Boolean(video);
    el.lobbySelfOff.hidden = Boolean(video);
    el.selfTile.classList.toggle("is-off", !video);
  }

  function stopCamera() {
    const video = localTrack("video");
    if (video) {
      video.stop(); // the camera light goes out: nothing is filmed any more
      camStream.removeTrack(video);
    }
    cameraOn = false;
    room.setTrack("video", null);
    showSelf();
  }

  async function startCamera() {
    if (!hasMedia()) {
      flashError(t("noMedia"));
      return false;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: VIDEO });
    } catch (err) {
      flashError(t("cameraFailed") + " " + mediaError(err));
      return false;
    }
    const track = stream.getVideoTracks()[0];
    if (!camStream) {
      camStream = new MediaStream();
    }
    camStream.addTrack(track);
    cameraOn = true;
    await room.setTrack("video", track);
    showSelf();
    return true;
  }

  function stopAll() {
    if (camStream) {
      for (const track of camStream.getTracks()) {
        track.stop();
      }
    }
    camStream = null;
    micOn = false;
    cameraOn = false;
    room.setTrack("audio", null);
    room.setTrack("video", null);
    showSelf();
  }

  function flashError(text) {
    el.connStatus.className = "status is-error";
    el.connStatus.textContent = text;
    window.setTimeout(renderBanner, 6000);
  }

  /* ------------------------------------------------------------------ going in */

  async function join(wantVideo, wantAudio) {
    if (joining || !link) {
      return;
    }
    joining = true;
    el.startError.textContent = "";
    setJoinButtons(true);
    const devices = await getDevices(wantVideo, wantAudio);
    if (!devices.ok && (wantVideo || wantAudio)) {
      // Refused or broken: say so plainly; the "without" button still gets them in.
      el.startError.textContent = devices.note;
      setJoinButtons(false);
      joining = false;
      el.joinNone.focus();
      return;
    }
    useTracks();
    const name = el.name.value.trim();
    let reply;
    try {
      reply = await room.knock(link.room ? { room: link.room } : { invite: link.invite }, name, cameraOn);
    } catch (err) {
      el.startError.textContent = errorText(err);
      if (err.code === "bad_name") {
        el.name.setAttribute("aria-invalid", "true");
        el.name.focus();
      }
      stopAll();
      setJoinButtons(false);
      joining = false;
      return;
    }
    joining = false;
    setJoinButtons(false);
    if (devices.note) {
      flashError(devices.note);
    }
    if (reply && reply.type === "room.lobby" && room.state === "waiting") {
      room.setMedia(cameraOn, micOn);
    }
  }

  /**
   * A call that has just been answered: no questions, straight in with the pass (room.resume).
   * Sound always; the camera only for a video call. Refused devices do not keep anyone out: they
   * can still hear, be heard through another device later, or write.
   */
  async function joinWithPass() {
    if (joining || !link || !link.pass) {
      return;
    }
    joining = true;
    const video = link.media !== "audio";
    el.loadingText.textContent = video ? t("callConnecting") : t("callConnectingAudio");
    const devices = await getDevices(video, true);
    useTracks();
    try {
      await room.enterWithPass(link.pass, cameraOn);
    } catch (err) {
      joining = false;
      stopAll();
      endedInfo = { kind: "refused", reason: err.message, code: err.code };
      writeStore(LINK_KEY, null);
      renderEnded();
      show("ended", true);
      return;
    }
    joining = false;
    if (!devices.ok || devices.note) {
      flashError(devices.ok ? devices.note : t("callMediaNote") + " " + devices.note);
    }
  }

  function setJoinButtons(busy) {
    for (const button of [el.joinVideo, el.joinAudio, el.joinNone]) {
      button.disabled = busy;
    }
    el.joinVideo.textContent = busy ? t("joining") : t("joinVideo");
  }

  /* ------------------------------------------------------------------ room events */

  room.on("state", (state) => {
    if (state === "waiting") {
      show("lobby", true);
    } else if (state === "inside") {
      if (view !== "room") {
        show("room", true);
      }
      room.setMedia(cameraOn, micOn);
      armMediaTimer();
    }
  });

  room.on("roster", (list) => {
    roster = list;
    renderTitle();
    renderPeople();
    renderKnocking();
    renderTiles();
    const hostHere = list.some((p) => p.role === "host" && p.state === "inside");
    el.lobbyNoHost.hidden = hostHere;
  });

  room.on("knocking", () => renderKnocking());

  room.on("resume", (token) => {
    if (link && link.pass) {
      link.pass = token; // the pass is spent; the node's newest token brings this place back after a reload
      writeStore(LINK_KEY, { pass: token, media: link.media });
    }
  });

  room.on("admitted", (frame) => {
    if (frame.camera === false && cameraOn) {
      stopCamera(); // every camera place is taken: in as a listener, who can still talk and write
    }
  });

  room.on("track", (info) => {
    attachMedia(info.pid);
  });

  room.on("trackended", (info) => {
    attachMedia(info.pid);
  });

  room.on("media", (info) => {
    if (info.state === "connected") {
      window.clearTimeout(mediaTimer);
      setConnDown(conn.state !== "open" && conn.state !== "connecting" ? connDown : false);
      if (conn.ready) {
        setConnDown(false);
      }
    } else if (info.state === "reconnecting") {
      setConnDown(true);
    }
  });

  room.on("text", (message) => {
    addChat(message.own ? t("you") : message.name, message.text, message.ts, message.own);
    if (!chatOpen && !message.own) {
      unread += 1;
      renderControls();
    }
  });

  room.on("ended", (info) => {
    endedInfo = info;
    window.clearTimeout(mediaTimer);
    stopAll();
    clearTiles();
    setConnDown(false);
    if (info.kind === "left" && !(unloading && link && link.pass)) {
      writeStore(LINK_KEY, null); // leaving is final for this tab (a call's reload comes back in)
    } else if (link && link.pass && info.kind !== "left") {
      writeStore(LINK_KEY, null); // the call is over
    }
    renderEnded();
    show("ended", true);
    document.title = t("title");
  });

  room.on("error", (err) => flashError(errorText(err)));

  conn.on("status", (s) => {
    if (!inCall()) {
      return;
    }
    if (s.state === "waiting" || s.state === "closed") {
      setConnDown(true);
    }
  });

  /** Media should be flowing soon after we are let in; if not, say so and open the chat. */
  function armMediaTimer() {
    window.clearTimeout(mediaTimer);
    mediaTimer = window.setTimeout(() => {
      if (view === "room" && room.mediaState !== "connected") {
        flashError(t("mediaSlow"));
        setChatOpen(true);
      }
    }, MEDIA_TIMEOUT_MS);
  }

  /* ------------------------------------------------------------------ people */

  function renderPeople() {
    el.peopleList.textContent = "";
    const isHost = room.role === "host";
    for (const p of roster) {
      const li = make("li", "person" + (p.state === "waiting" ? " is-waiting" : ""));
      li.dataset.pid = p.pid;
      const name = make("span", "person-name", p.name);
      li.appendChild(name);
      const tags = [];
      if (p.pid === room.pid) {
        tags.push(t("youSuffix"));
      }
      if (p.role === "host") {
        tags.push(t("hostSuffix"));
      }
      if (p.state === "waiting") {
        tags.push(t("waitingTag"));
      } else if (p.away) {
        tags.push(t("awayTag"));
      } else {
        if (!p.camera) {
          tags.push(t("cameraOffTag"));
        }
        if (!p.mic) {
          tags.push(t("micOffTag"));
        }
      }
      if (tags.length) {
        li.appendChild(make("span", "person-tags", tags.join(" · ")));
      }
      if (isHost && p.pid !== room.pid && p.role !== "host" && p.state === "inside") {
        const button = make("button", "small-button", t("remove"));
        button.type = "button";
        button.setAttribute("aria-label", t("removeLabel", { name: p.name }));
        button.addEventListener("click", () => room.remove(p.pid));
        li.appendChild(button);
      }
      el.peopleList.appendChild(li);
    }
  }

  function renderKnocking() {
    const waiting = roster.filter((p) => p.state === "waiting");
    const isHost = room.role === "host" && view === "room";
    el.knocking.hidden = !isHost || waiting.length === 0;
    el.knockingList.textContent = "";
    for (const p of waiting) {
      const li = make("li", "knock");
      li.dataset.pid = p.pid;
      li.appendChild(make("span", "knock-name", p.name));
      const admit = make("button", "button knock-admit", t("admit"));
      admit.type = "button";
      admit.setAttribute("aria-label", t("admitLabel", { name: p.name }));
      admit.addEventListener("click", () => { admit.disabled = true; room.admit(p.pid); });
      const decline = make("button", "button button-secondary knock-decline", t("decline"));
      decline.type = "button";
      decline.setAttribute("aria-label", t("declineLabel", { name: p.name }));
      decline.addEventListener("click", () => { decline.disabled = true; room.decline(p.pid); });
      li.appendChild(admit);
      li.appendChild(decline);
      el.knockingList.appendChild(li);
    }
    if (isHost && waiting.length) {
      document.title = t("knockTitle", { n: waiting.length });
    } else if (view !== "ended") {
      document.title = t("title");
    }
  }

  /* ------------------------------------------------------------------ tiles */

  function makeTile(pid) {
    const li = make("div", "tile");
    li.dataset.pid = pid;
    const video = make("video", "tile-video");
    video.autoplay = true;
    video.muted = true;        // sound goes through the tile's <audio>, so everyone is heard
    video.playsInline = true;
    video.setAttribute("playsinline", "");
    const off = make("p", "tile-off video-off");
    const name = make("p", "tile-name");
    const mic = make("p", "tile-mic");
    const audio = make("audio");
    audio.autoplay = true;
    li.appendChild(video);
    li.appendChild(off);
    li.appendChild(name);
    li.appendChild(mic);
    el.audioSink.appendChild(audio);
    const tile = { li: li, video: video, audio: audio, off: off, name: name, mic: mic, lastFrame: 0,
                   watching: false };
    watchFrames(tile);
    return tile;
  }

  /** Note when the tile's picture last changed, so a frozen picture is shown as "no picture". */
  function watchFrames(tile) {
    const video = tile.video;
    if (typeof video.requestVideoFrameCallback === "function") {
      const step = () => {
        tile.lastFrame = Date.now();
        video.requestVideoFrameCallback(step);
      };
      video.requestVideoFrameCallback(step);
    } else {
      video.addEventListener("timeupdate", () => { tile.lastFrame = Date.now(); });
    }
  }

  function attachMedia(pid) {
    const tile = tiles.get(pid);
    const stream = room.remote.get(pid);
    if (!tile) {
      renderTiles();
      return;
    }
    const audioTracks = stream ? stream.getAudioTracks() : [];
    const videoTracks = stream ? stream.getVideoTracks() : [];
    const audioSrc = audioTracks.length ? new MediaStream(audioTracks) : null;
    const videoSrc = videoTracks.length ? new MediaStream(videoTracks) : null;
    if (!sameTracks(tile.audio.srcObject, audioTracks)) {
      tile.audio.srcObject = audioSrc;
      if (audioSrc) {
        tile.audio.play().catch(() => {});
      }
    }
    if (!sameTracks(tile.video.srcObject, videoTracks)) {
      tile.video.srcObject = videoSrc;
      if (videoSrc) {
        tile.video.play().catch(() => {});
      }
    }
    renderTile(pid);
  }

  function sameTracks(src, tracks) {
    const have = src ? src.getTracks() : [];
    return have.length === tracks.length && have.every((track) => tracks.includes(track));
  }

  function renderTile(pid) {
    const tile = tiles.get(pid);
    const p = roster.find((x) => x.pid === pid);
    if (!tile || !p) {
      return;
    }
    const stream = room.remote.get(pid);
    const track = stream ? stream.getVideoTracks()[0] : null;
    const stalled = tile.lastFrame > 0 && Date.now() - tile.lastFrame > STALL_MS;
    let off = "";
    if (!p.camera) {
      off = t("tileCameraOff");
    } else if (audioOnly) {
      off = t("tileAudioOnly");
    } else if (!track || track.muted || tile.lastFrame === 0 || stalled) {
      off = t("tileNoPicture");
    }
    tile.li.classList.toggle("is-off", off !== "");
    tile.li.classList.toggle("camera-off", !p.camera);
    tile.off.textContent = off;
    tile.off.hidden = off === "";
    tile.name.textContent = p.name + (p.role === "host" ? " " + t("hostSuffix") : "");
    tile.mic.textContent = p.mic ? "" : t("tileMicOff");
    tile.mic.hidden = p.mic;
    if (audioOnly && !tile.video.paused) {
      tile.video.pause();
    } else if (!audioOnly && tile.video.paused && tile.video.srcObject) {
      tile.video.play().catch(() => {});
    }
  }

  /** One tile per other participant inside, the first MAX_TILES shown; everyone is heard. */
  function renderTiles() {
    const others = roster.filter((p) => p.state === "inside" && p.pid !== room.pid);
    const keep = new Set(others.map((p) => p.pid));
    for (const [pid, tile] of tiles) {
      if (!keep.has(pid)) {
        tile.li.remove();
        tile.audio.srcObject = null;
        tile.audio.remove();
        tile.video.srcObject = null;
        tiles.delete(pid);
      }
    }
    let shown = 0;
    for (const p of others) {
      let tile = tiles.get(p.pid);
      if (!tile) {
        tile = makeTile(p.pid);
        tiles.set(p.pid, tile);
        el.tiles.appendChild(tile.li);
        attachMedia(p.pid);
      }
      tile.li.hidden = shown >= MAX_TILES;
      shown += 1;
      renderTile(p.pid);
    }
    el.tiles.dataset.count = String(Math.min(shown, MAX_TILES));
    el.alone.hidden = others.length > 0 || view !== "room";
  }

  function clearTiles() {
    for (const tile of tiles.values()) {
      tile.li.remove();
      tile.audio.srcObject = null;
      tile.audio.remove();
      tile.video.srcObject = null;
    }
    tiles.clear();
  }

  /* ------------------------------------------------------------------ controls */

  function renderControls() {
    setControl(el.micButton, !micOn, micOn ? t("mute") : t("unmute"));
    el.micButton.disabled = !localTrack("audio");
    setControl(el.cameraButton, !cameraOn, cameraOn ? t("cameraOff") : t("cameraOn"));
    el.cameraButton.disabled = audioOnly;
    setControl(el.audioOnlyButton, audioOnly, audioOnly ? t("audioOnlyOff") : t("audioOnly"));
    setControl(el.chatButton, chatOpen, unread && !chatOpen ? t("chatButtonNew", { n: unread }) : t("chatButton"));
    el.chatButton.hidden = view !== "room";
    el.chatButton.classList.toggle("has-news", unread > 0 && !chatOpen);
  }

  /** A toggle button: aria-pressed says the state, the label says what a press does. */
  function setControl(button, pressed, label) {
    button.setAttribute("aria-pressed", pressed ? "true" : "false");
    button.classList.toggle("is-on", pressed);
    const span = button.querySelector(".control-label");
    span.textContent = label;
  }

  function toggleMic() {
    const track = localTrack("audio");
    if (!track) {
      return;
    }
    track.enabled = !track.enabled;
    micOn = track.enabled;
    room.setMedia(cameraOn, micOn);
    renderControls();
  }

  async function toggleCamera() {
    if (cameraOn) {
      stopCamera();
    } else if (!(await startCamera())) {
      renderControls();
      return;
    }
    room.setMedia(cameraOn, micOn);
    renderControls();
  }

  function toggleAudioOnly() {
    audioOnly = !audioOnly;
    document.body.classList.toggle("audio-only", audioOnly);
    if (audioOnly && cameraOn) {
      stopCamera();
      room.setMedia(cameraOn, micOn);
    }
    renderControls();
    renderTiles();
  }

  function setChatOpen(open) {
    chatOpen = open;
    if (open) {
      unread = 0;
    }
    el.chat.hidden = !(view === "room" && chatOpen);
    renderControls();
    if (open) {
      el.chatLog.scrollTop = el.chatLog.scrollHeight;
    }
  }

  function leaveNow() {
    room.leave(); // no question asked: the citizen decides
  }

  /* ------------------------------------------------------------------ chat */

  function addChat(who, text, ts, own) {
    const li = make("li", "chat-msg" + (own ? " is-own" : ""));
    li.appendChild(make("span", "chat-meta", who + " · " + clockTime(ts)));
    li.appendChild(make("p", "chat-text", text));
    el.chatLog.appendChild(li);
    el.chatLog.scrollTop = el.chatLog.scrollHeight;
  }

  function sendChat(event) {
    event.preventDefault();
    const text = el.chatText.value.trim();
    if (!text) {
      el.chatText.setAttribute("aria-invalid", "true");
      el.chatText.focus();
      return;
    }
    el.chatText.removeAttribute("aria-invalid");
    if (room.sendText(text)) {
      el.chatText.value = "";
    } else {
      flashError(t("err_offline"));
    }
  }

  /* ------------------------------------------------------------------ ended */

  function renderEnded() {
    if (!endedInfo) {
      return;
    }
    const kind = endedInfo.kind;
    const titles = { left: "endedLeftTitle", closed: "endedClosedTitle", removed: "endedRemovedTitle",
                     declined: "endedDeclinedTitle", refused: "endedRefusedTitle" };
    const texts = { left: "endedLeft", closed: "endedClosed", removed: "endedRemoved",
                    declined: "endedDeclined" };
    el.endedTitle.textContent = t(titles[kind] || "endedClosedTitle");
    let text = texts[kind] ? t(texts[kind]) : errorText({ code: endedInfo.code });
    const call = Boolean(link && link.pass);
    if (call && (kind === "left" || kind === "closed")) {
      el.endedTitle.textContent = t("endedCallTitle");
      text = kind === "left" ? t("endedCallLeft") : t("endedCallClosed");
    }
    el.backToChat.hidden = !call;
    // The host's own words, when they wrote some (not the node's default English).
    if ((kind === "declined" || kind === "removed") && endedInfo.reason && !/^the host /i.test(endedInfo.reason)) {
      text += " " + t("hostSaid", { reason: endedInfo.reason });
    }
    el.endedReason.textContent = text;
    el.rejoin.hidden = !(kind === "left" && link && link.room);
  }

  /* ------------------------------------------------------------------ wiring */

  el.langButton.addEventListener("click", toggleLanguage);
  el.startForm.addEventListener("submit", (event) => { event.preventDefault(); join(true, true); });
  el.joinAudio.addEventListener("click", () => join(false, true));
  el.joinNone.addEventListener("click", () => join(false, false));
  el.name.addEventListener("input", () => el.name.removeAttribute("aria-invalid"));
  el.micButton.addEventListener("click", toggleMic);
  el.cameraButton.addEventListener("click", toggleCamera);
  el.audioOnlyButton.addEventListener("click", toggleAudioOnly);
  el.chatButton.addEventListener("click", () => setChatOpen(!chatOpen));
  el.leaveButton.addEventListener("click", leaveNow);
  el.chatForm.addEventListener("submit", sendChat);
  el.rejoin.addEventListener("click", () => {
    endedInfo = null;
    room.state = "idle";
    show("start", true);
  });
  window.addEventListener("pagehide", () => {
    unloading = true;
    if (inCall()) {
      room.leave();
    }
  });
  // Frozen pictures and muted tracks are noticed without any event from the node.
  window.setInterval(() => {
    if (view === "room") {
      for (const pid of tiles.keys()) {
        renderTile(pid);
      }
    }
  }, 1000);

  /* ------------------------------------------------------------------ start */

  if (link && link.pass) { // in a call the way out is called what the call page called it
    document.querySelector("#leave-button [data-i18n]").setAttribute("data-i18n", "hangup");
  }
  applyLanguage();
  if (link && link.pass) {
    show("loading", false);
    conn.connect();
    if (conn.ready) {
      joinWithPass();
    } else {
      const off = conn.on("welcome", () => { off(); joinWithPass(); });
    }
  } else if (!link) {
    el.startError.textContent = t("noLink");
    for (const button of [el.joinVideo, el.joinAudio, el.joinNone]) {
      button.disabled = true;
    }
  } else {
    conn.connect();
  }
  if (!hasMedia()) {
    el.joinVideo.hidden = true;
    el.joinAudio.hidden = true;
  }
  if (!(link && link.pass)) {
    show("start", false);
  }
})();
