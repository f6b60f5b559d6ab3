/* fristed: staff enrolment page. Needs /static/api.js first.
   The one-time code comes from the link's #fragment (never sent to the server in the URL);
   it is dropped from the address bar at once and kept only in memory. */
"use strict";

(function () {
  const api = window.fristedApi;
  const ROLES = { admin: "administrator", staff: "medarbejder", volunteer: "frivillig" };
  const MIN_PASSWORD = 12;

  const el = {
    status: document.getElementById("status"),
    codeForm: document.getElementById("code-form"),
    codeTitle: document.getElementById("code-title"),
    code: document.getElementById("code"),
    codeButton: document.getElementById("code-button"),
    setup: document.getElementById("setup-step"),
    setupTitle: document.getElementById("setup-title"),
    welcome: document.getElementById("welcome"),
    qr: document.getElementById("qr"),
    otpauthLink: document.getElementById("otpauth-link"),
    secret: document.getElementById("secret"),
    finishForm: document.getElementById("finish-form"),
    accountName: document.getElementById("account-name"),
    password: document.getElementById("password"),
    password2: document.getElementById("password2"),
    showPassword: document.getElementById("show-password"),
    totp: document.getElementById("totp"),
    finishButton: document.getElementById("finish-button"),
    done: document.getElementById("done"),
    doneTitle: document.getElementById("done-title"),
  };

  let code = null; // memory only

  function codeFromHash() {
    const hash = window.location.hash.replace(/^#/, "");
    for (const part of hash.split("&")) {
      if (part.startsWith("code=")) {
        try {
          return decodeURIComponent(part.slice(5)).trim();
        } catch (err) {
          return "";
        }
      }
    }
    return "";
  }

  function dropHash() {
    if (window.location.hash) {
      window.history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function say(text, kind, detail) {
    el.status.className = "status" + (kind ? " is-" + kind : "");
    el.status.textContent = text;
    if (detail) {
      const span = document.createElement("span");
      span.className = "detail";
      span.lang = "en";
      span.textContent = detail;
      el.status.appendChild(span);
    }
  }

  function clear() {
    el.status.className = "status";
    el.status.textContent = "";
    for (const input of [el.code, el.password, el.password2, el.totp]) {
      input.removeAttribute("aria-invalid");
    }
  }

  function problem(result, fallback) {
    if (result.status === 0) {
      say("Der er ingen forbindelse til Fristed. Tjek netværket, og prøv igen.", "error");
    } else if (result.status === 429) {
      say("For mange forsøg. Vent " + api.waitSeconds(result) + " sekunder.", "error");
    } else {
      say(fallback, "error", api.reasonOf(result));
    }
  }

  function invalid(input, text) {
    say(text, "error");
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  function roleName(role) {
    return Object.prototype.hasOwnProperty.call(ROLES, role) ? ROLES[role] : String(role);
  }

  function groups(secret) {
    const plain = String(secret).replace(/\s+/g, "");
    return (plain.match(/.{1,4}/g) || []).join(" ");
  }

  function showCodeForm(focus) {
    el.setup.hidden = true;
    el.finishForm.hidden = true;
    el.codeForm.hidden = false;
    if (focus) {
      el.code.focus();
    }
  }

  function showSetup(data) {
    el.welcome.textContent = "Hej " + data.name + ". Du bliver oprettet som " + roleName(data.role) + ".";
    if (typeof data.qr === "string" && data.qr.startsWith("data:image/svg+xml")) {
      el.qr.src = data.qr;
      el.qr.hidden = false;
    } else {
      el.qr.removeAttribute("src");
      el.qr.hidden = true;
    }
    if (typeof data.otpauth === "string" && data.otpauth.startsWith("otpauth://")) {
      el.otpauthLink.href = data.otpauth;
      el.otpauthLink.parentElement.hidden = false;
    } else {
      el.otpauthLink.parentElement.hidden = true;
    }
    el.secret.textContent = groups(data.secret);
    el.accountName.value = data.name;
    el.codeForm.hidden = true;
    el.setup.hidden = false;
    el.finishForm.hidden = false;
    el.setupTitle.focus();
  }

  async function start(value) {
    clear();
    if (!value) {
      return invalid(el.code, "Skriv din engangskode.");
    }
    if (value.length < 16) {
      return invalid(el.code, "Engangskoden er for kort. Tjek, at du har hele koden med fra linket.");
    }
    el.codeButton.disabled = true;
    say("Tjekker koden …");
    let result;
    try {
      result = await api.postJSON("/api/enrol/start", { code: value });
    } finally {
      el.codeButton.disabled = false;
    }
    if (result.status === 200 && result.data && result.data.secret) {
      code = value;
      el.code.value = "";
      clear();
      showSetup(result.data);
      return;
    }
    code = null;
    showCodeForm(false);
    problem(result, "Koden virker ikke. Spørg din leder om en ny.");
    el.code.setAttribute("aria-invalid", "true");
    el.code.focus();
  }

  async function finish(event) {
    event.preventDefault();
    clear();
    const password = el.password.value;
    const totp = el.totp.value.replace(/\s+/g, "");
    if (Array.from(password).length < MIN_PASSWORD) {
      return invalid(el.password, "Adgangskoden skal have mindst " + MIN_PASSWORD + " tegn.");
    }
    if (password !== el.password2.value) {
      return invalid(el.password2, "De to adgangskoder er ikke ens. Skriv den samme to gange.");
    }
    if (!/^[0-9]{6}$/.test(totp)) {
      return invalid(el.totp, "Koden fra din app skal være seks tal.");
    }
    if (!code) {
      showCodeForm(true);
      return say("Skriv din engangskode igen.", "error");
    }
    el.finishButton.disabled = true;
    el.finishForm.setAttribute("aria-busy", "true");
    say("Opretter din adgang …");
    let result;
    try {
      result = await api.postJSON("/api/enrol/finish", { code: code, password: password, totp: totp });
    } finally {
      el.finishButton.disabled = false;
      el.finishForm.removeAttribute("aria-busy");
    }
    if (result.status === 200 && result.data && result.data.account) {
      code = null;
      el.password.value = "";
      el.password2.value = "";
      el.totp.value = "";
      el.qr.removeAttribute("src");
      el.secret.textContent = "";
      el.otpauthLink.href = "#done-title";
      el.setup.hidden = true;
      el.finishForm.hidden = true;
      clear();
      el.done.hidden = false;
      el.doneTitle.focus();
      return;
    }
    el.totp.value = "";
    problem(result, "Det lykkedes ikke at oprette din adgang.");
  }

  el.showPassword.addEventListener("change", function () {
    const type = el.showPassword.checked ? "text" : "password";
    el.password.type = type;
    el.password2.type = type;
  });
  el.codeForm.addEventListener("submit", function (event) {
    event.preventDefault();
    start(el.code.value.trim());
  });
  el.finishForm.addEventListener("submit", finish);

  const fromLink = codeFromHash();
  dropHash();
  if (fromLink) {
    start(fromLink);
  } else {
    showCodeForm(false);
  }
})();
