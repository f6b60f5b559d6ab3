/* fristed: the device test page (/device-test). Camera preview and microphone level on this device,
   then the path through the node: the camera and microphone go to the node over WebRTC and come back
   (devicetest.offer/answer on /ws, docs/api.md section 8), and getStats() says whether the looped-back
   video decodes and the sound arrives. Nothing is stored. Words in STRINGS (Danish first). */
"use strict";

(function () {
  const UI_KEY = "ui";
  const HEARD_LEVEL = 0.04;   // RMS above this counts as sound (the fake device and a quiet voice pass)
  const LISTEN_MS = 8000;     // how long we wait for sound before saying we cannot hear it
  const CAMERA_MS = 5000;     // how long we wait for a picture
  const PATH_MS = 15000;      // how long the loopback through the node may take before we say it failed
  const STATS_MS = 1000;      // how often we read the loopback's statistics

  const STRINGS = {
    da: {
      langButton: "English",
      docTitle: "Fristed – test kamera og mikrofon",
      title: "Test dit kamera og din mikrofon",
      lead: "Her kan du se, om dit kamera og din mikrofon virker, før du går ind i et videomøde. Billede og lyd sendes en tur gennem fristed og tilbage til dig. Intet bliver gemt.",
      ask: "Når du trykker på knappen, spørger din telefon eller computer, om vi må bruge kameraet og mikrofonen. Tryk «Tillad».",
      start: "Start testen",
      again: "Test igen",
      stop: "Stop testen",
      cameraTitle: "Kamera",
      micTitle: "Mikrofon",
      micSay: "Sig noget, fx dit navn. Den grønne streg skal bevæge sig.",
      resultsTitle: "Resultat",
      pathTitle: "Test forbindelsen gennem fristed",
      pathSay: "Vi sender dit billede og din lyd gennem fristed og tilbage. Det tager et øjeblik.",
      loopTitle: "Sådan ser andre dig",
      pathWaiting: "Vi tester forbindelsen gennem fristed …",
      pathOk: "Forbindelsen virker — andre kan se og høre dig",
      pathOkVideo: "Forbindelsen virker — andre kan se dig",
      pathOkAudio: "Forbindelsen virker — andre kan høre dig",
      pathBad: "Vi kunne ikke få forbindelse gennem fristed. Prøv et andet netværk, eller ring til os.",
      home: "Til forsiden",
      cameraOk: "Dit kamera virker.",
      cameraWaiting: "Vi venter på billedet fra dit kamera …",
      cameraNone: "Vi kan ikke se noget billede fra dit kamera. Tjek at det ikke er dækket til eller bruges af et andet program.",
      cameraMissing: "Vi kan ikke finde et kamera. Du kan stadig være med kun med lyd.",
      micOk: "Vi kan høre din mikrofon.",
      micListening: "Vi lytter … sig noget.",
      micNone: "Vi kan ikke høre din mikrofon — tjek at den ikke er slået fra.",
      micMissing: "Vi kan ikke finde en mikrofon. Du kan stadig skrive i mødet.",
      denied: "Du har ikke givet lov til kamera og mikrofon. Giv lov i browserens indstillinger, og tryk «Test igen».",
      busy: "Kameraet eller mikrofonen bruges måske af et andet program. Luk det, og tryk «Test igen».",
      noMedia: "Denne browser kan ikke bruge kamera og mikrofon. Prøv en anden browser, fx Chrome, Safari eller Firefox.",
      failed: "Testen virkede ikke. Tryk «Test igen».",
      stopped: "Testen er stoppet. Kameraet og mikrofonen er slukket igen.",
    },
    en: {
      langButton: "Dansk",
      docTitle: "Fristed – test camera and microphone",
      title: "Test your camera and microphone",
      lead: "Here you can see whether your camera and microphone work before you go into a video meeting. Picture and sound make one trip through fristed and back to you. Nothing is saved.",
      ask: "When you press the button, your phone or computer asks whether we may use the camera and microphone. Press «Allow».",
      start: "Start the test",
      again: "Test again",
      stop: "Stop the test",
      cameraTitle: "Camera",
      micTitle: "Microphone",
      micSay: "Say something, for example your name. The green bar should move.",
      resultsTitle: "Result",
      pathTitle: "Test the connection through fristed",
      pathSay: "We send your picture and sound through fristed and back. It takes a moment.",
      loopTitle: "How others see you",
      pathWaiting: "Testing the connection through fristed …",
      pathOk: "The connection works — others can see and hear you",
      pathOkVideo: "The connection works — others can see you",
      pathOkAudio: "The connection works — others can hear you",
      pathBad: "We could not get a connection through fristed. Try another network, or call us.",
      home: "To the front page",
      cameraOk: "Your camera works.",
      cameraWaiting: "Waiting for the picture from your camera …",
      cameraNone: "We cannot see a picture from your camera. Check that it is not covered or used by another program.",
      cameraMissing: "We cannot find a camera. You can still take part with sound only.",
      micOk: "We can hear your microphone.",
      micListening: "Listening … say something.",
      micNone: "We cannot hear your microphone — check that it is not switched off.",
      micMissing: "We cannot find a microphone. You can still write in the meeting.",
      denied: "You have not allowed the camera and microphone. Allow them in the browser's settings and press «Test again».",
      busy: "Another program may be using the camera or microphone. Close it and press «Test again».",
      noMedia: "This browser cannot use a camera and microphone. Try another browser, such as Chrome, Safari or Firefox.",
      failed: "The test did not work. Press «Test again».",
      stopped: "The test has stopped. The camera and microphone are off again.",
    },
  };

  function readUi() {
    try {
      const value = JSON.parse(window.sessionStorage.getItem(UI_KEY) || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (err) {
      return {};
    }
  }

  let lang = readUi().lang === "en" ? "en" : "da";
  let stream = null;
  let audioCtx = null;
  let frame = 0;
  let timers = [];
  let started = false;
  // Each check: "idle" | "waiting" | "ok" | "bad" | "missing"; message keys come from the state.
  let camera = "idle";
  let mic = "idle";
  let problem = "";       // a key from STRINGS for an error that stops the whole test
  // The loopback through the node: "idle" | "waiting" | "ok" | "bad".
  let path = "idle";
  let pathKey = "";       // which "ok" sentence: pathOk, pathOkVideo or pathOkAudio
  let conn = null;        // fristedProtocol.Connection, only while a test runs
  let pc = null;          // the RTCPeerConnection to the node for the loopback
  let statsTimer = 0;
  let run = 0;            // bumped by every start and stop: late callbacks of an old test do nothing

  const $ = (id) => document.getElementById(id);
  const el = {
    lang: $("lang-button"), start: $("start-button"), stop: $("stop-button"), area: $("test-area"),
    preview: $("preview"), meter: $("meter"), fill: $("meter-fill"), results: $("results"),
    loopback: $("loopback"),
  };
  el.loopback.style.transform = "none"; // how others see you: not a mirror

  function t(key, vars) {
    return window.fristedUi.translate(STRINGS, lang, key, vars);
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = t("docTitle");
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.getAttribute("data-i18n"));
    }
    el.lang.textContent = t("langButton");
    el.lang.lang = lang === "da" ? "en" : "da";
    if (started) {
      el.start.textContent = t("again");
    }
    render();
  }

  function addResult(kind, key, id) {
    const li = document.createElement("li");
    li.className = "result is-" + kind;
    li.textContent = t(key);
    if (id) {
      li.id = id;
    }
    el.results.appendChild(li);
  }

  function render() {
    el.results.textContent = "";
    if (problem) {
      addResult("bad", problem, "result-problem");
      return;
    }
    const cam = { waiting: ["unknown", "cameraWaiting"], ok: ["ok", "cameraOk"], bad: ["bad", "cameraNone"],
                  missing: ["unknown", "cameraMissing"] }[camera];
    const mi = { waiting: ["unknown", "micListening"], ok: ["ok", "micOk"], bad: ["bad", "micNone"],
                 missing: ["unknown", "micMissing"] }[mic];
    if (cam) {
      addResult(cam[0], cam[1], "result-camera");
    }
    if (mi) {
      addResult(mi[0], mi[1], "result-mic");
    }
    const pa = { waiting: ["unknown", "pathWaiting"], ok: ["ok", pathKey || "pathOk"], bad: ["bad", "pathBad"] }[path];
    if (pa) {
      addResult(pa[0], pa[1], "result-path");
    }
  }

  function stopPath() {
    window.clearInterval(statsTimer);
    statsTimer = 0;
    if (conn) {
      conn.send({ type: "devicetest.stop" });
      const old = conn;
      conn = null;
      old.drain(200).then(() => old.close());
    }
    if (pc) {
      pc.ontrack = null;
      try {
        pc.close();
      } catch (err) {
        /* closed already */
      }
      pc = null;
    }
    el.loopback.srcObject = null;
  }

  function stop(say) {
    run += 1;
    for (const timer of timers) {
      window.clearTimeout(timer);
    }
    timers = [];
    stopPath();
    window.cancelAnimationFrame(frame);
    if (stream) {
      for (const track of stream.getTracks()) {
        track.stop();
      }
    }
    stream = null;
    el.preview.srcObject = null;
    if (audioCtx) {
      audioCtx.close().catch(() => {});
      audioCtx = null;
    }
    el.stop.hidden = true;
    el.area.hidden = true;
    if (say) {
      problem = "stopped";
      camera = mic = path = "idle";
      render();
      el.results.firstChild.className = "result is-unknown";
    }
  }

  async function getStream() {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch (err) {
      if (err && err.name === "NotAllowedError") {
        throw err;
      }
      // One device may be missing or broken: test what there is.
      for (const constraints of [{ audio: true }, { video: true }]) {
        try {
          return await navigator.mediaDevices.getUserMedia(constraints);
        } catch (err2) {
          /* try the other one */
        }
      }
      throw err;
    }
  }

  async function start() {
    stop(false);
    started = true;
    el.start.textContent = t("again");
    problem = "";
    camera = mic = path = "idle";
    pathKey = "";
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      problem = "noMedia";
      render();
      return;
    }
    try {
      stream = await getStream();
    } catch (err) {
      const name = err && err.name;
      problem = name === "NotAllowedError" || name === "SecurityError" ? "denied"
        : name === "NotReadableError" || name === "AbortError" ? "busy"
          : name === "NotFoundError" ? "micMissing" : "failed";
      render();
      return;
    }
    el.area.hidden = false;
    el.stop.hidden = false;
    testCamera();
    testMic();
    testPath();
    render();
  }

  /** Send the camera and microphone through the node and back, and judge what comes back. */
  function testPath() {
    const P = window.fristedProtocol;
    if (!P || !window.RTCPeerConnection) {
      path = "bad";
      return;
    }
    const mine = run;
    const live = () => mine === run;
    const fail = () => {
      if (live() && path === "waiting") {
        path = "bad";
        stopPath();
        render();
      }
    };
    path = "waiting";
    timers.push(window.setTimeout(fail, PATH_MS));
    const hasVideo = stream.getVideoTracks().length > 0;
    const hasAudio = stream.getAudioTracks().length > 0;

    conn = new P.Connection();
    const myConn = conn;
    myConn.on("devicetest.offer", (frame) => {
      if (live() && pc && typeof frame.sdp === "string") {
        answerNode(pc, myConn, frame.sdp).catch(fail);
      }
    });
    myConn.on("devicetest.ended", () => {
      if (live() && path === "waiting") {
        fail();
      }
    });
    let offered = false;
    myConn.on("welcome", () => {
      if (!live() || offered) {
        return; // one offer per test; a reconnect mid-test ends in the timeout
      }
      offered = true;
      offerNode(myConn).catch(fail);
    });
    myConn.connect();

    let last = { frames: -1, packets: -1 };
    let seen = { video: false, audio: false };
    statsTimer = window.setInterval(async () => {
      if (!live() || !pc) {
        return;
      }
      let frames = 0;
      let packets = 0;
      try {
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "video") {
            frames += s.framesDecoded || 0;
          } else if (s.type === "inbound-rtp" && s.kind === "audio") {
            packets += s.packetsReceived || 0;
          }
        });
      } catch (err) {
        return;
      }
      if (!live() || path !== "waiting") {
        return;
      }
      if (last.frames >= 0 && frames > last.frames && frames > 0) {
        seen.video = true;
      }
      if (last.packets >= 0 && packets > last.packets && packets > 0) {
        seen.audio = true;
      }
      last = { frames: frames, packets: packets };
      const videoOk = !hasVideo || (seen.video && el.loopback.videoWidth > 0);
      const audioOk = !hasAudio || seen.audio;
      if (videoOk && audioOk) {
        path = "ok";
        pathKey = hasVideo && hasAudio ? "pathOk" : hasVideo ? "pathOkVideo" : "pathOkAudio";
        window.clearInterval(statsTimer); // keep showing the looped-back picture until stopped
        statsTimer = 0;
        render();
      }
    }, STATS_MS);
  }

  async function offerNode(myConn) {
    const mine = run;
    const ice = await myConn.request({ type: "ice.get" }, PATH_MS, ["ice"]);
    if (mine !== run) {
      return;
    }
    const iceServers = ice && Array.isArray(ice.iceServers) ? ice.iceServers : [];
    pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers: iceServers });
    const myPc = pc;
    for (const track of stream.getTracks()) {
      myPc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    }
    myPc.ontrack = (event) => {
      if (mine !== run || event.track.kind !== "video") {
        return; // the sound comes back too, but we do not play it: no echo
      }
      el.loopback.srcObject = new MediaStream([event.track]);
      el.loopback.play().catch(() => {});
    };
    const offer = await myPc.createOffer();
    await myPc.setLocalDescription(offer);
    const reply = await myConn.request({ type: "devicetest.offer", sdp: myPc.localDescription.sdp }, PATH_MS,
                                       ["devicetest.answer"]);
    if (mine !== run || pc !== myPc) {
      return;
    }
    if (!reply || typeof reply.sdp !== "string") {
      throw new Error("no answer");
    }
    await myPc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
  }

  async function answerNode(myPc, myConn, sdp) {
    if (myPc.signalingState === "have-local-offer") {
      return; // our own offer is still unanswered; the node only offers after it has answered
    }
    await myPc.setRemoteDescription({ type: "offer", sdp: sdp });
    await myPc.setLocalDescription(await myPc.createAnswer());
    myConn.send({ type: "devicetest.answer", sdp: myPc.localDescription.sdp });
  }

  function testCamera() {
    const track = stream.getVideoTracks()[0];
    if (!track) {
      camera = "missing";
      return;
    }
    camera = "waiting";
    el.preview.srcObject = new MediaStream([track]);
    el.preview.play().catch(() => {});
    const check = () => {
      if (el.preview.videoWidth > 0 && camera === "waiting") {
        camera = "ok";
        render();
      }
    };
    el.preview.addEventListener("loadeddata", check);
    el.preview.addEventListener("resize", check);
    timers.push(window.setTimeout(() => {
      check();
      if (camera === "waiting") {
        camera = "bad";
        render();
      }
    }, CAMERA_MS));
  }

  function testMic() {
    const track = stream.getAudioTracks()[0];
    if (!track) {
      mic = "missing";
      return;
    }
    mic = "waiting";
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) {
      mic = "missing";
      return;
    }
    audioCtx = new Ctx();
    audioCtx.resume().catch(() => {});
    const source = audioCtx.createMediaStreamSource(new MediaStream([track]));
    const analyser = audioCtx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser); // not to the speakers: no echo
    const data = new Float32Array(analyser.fftSize);
    let peak = 0;
    const step = () => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) {
        sum += v * v;
      }
      const rms = Math.sqrt(sum / data.length);
      peak = Math.max(rms, peak * 0.92);
      const level = Math.min(10, Math.round(peak * 40)); // 0.25 RMS fills the bar
      el.fill.className = "meter-fill w" + level;
      el.meter.setAttribute("aria-valuenow", String(level * 10));
      if (rms > HEARD_LEVEL && mic !== "ok" && track.enabled && !track.muted) {
        mic = "ok";
        render();
      }
      frame = window.requestAnimationFrame(step);
    };
    frame = window.requestAnimationFrame(step);
    timers.push(window.setTimeout(() => {
      if (mic === "waiting") {
        mic = "bad";
        render();
      }
    }, LISTEN_MS));
  }

  el.lang.addEventListener("click", () => {
    lang = lang === "da" ? "en" : "da";
    const ui = readUi();
    ui.lang = lang;
    try {
      window.sessionStorage.setItem(UI_KEY, JSON.stringify(ui));
    } catch (err) {
      /* the page still works */
    }
    applyLanguage();
  });
  el.start.addEventListener("click", start);
  el.stop.addEventListener("click", () => stop(true));
  window.addEventListener("pagehide", () => stop(false));
  applyLanguage();
})();
