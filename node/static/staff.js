/* fristed: staff login page. Needs /static/api.js first, and /static/staffchat.js for the desk
   (queue and conversations) that opens after login.
   The session token stays in the HttpOnly cookie; only the CSRF value is kept, in memory. */
"use strict";

(function () {
  const api = window.fristedApi;
  const desk = window.fristedDesk || null;
  const ROLES = { admin: "administrator", staff: "medarbejder", volunteer: "frivillig" };

  const el = {
    loading: document.getElementById("loading"),
    status: document.getElementById("status"),
    form: document.getElementById("login-form"),
    title: document.getElementById("login-title"),
    name: document.getElementById("name"),
    password: document.getElementById("password"),
    showPassword: document.getElementById("show-password"),
    totp: document.getElementById("totp"),
    loginButton: document.getElementById("login-button"),
    signedIn: document.getElementById("signed-in"),
    who: document.getElementById("who"),
    logoutButton: document.getElementById("logout-button"),
  };

  let csrf = null; // memory only: never localStorage, never the URL
  let account = null; // who is signed in, for the desk

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
    for (const input of [el.name, el.password, el.totp]) {
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

  function roleName(role) {
    return Object.prototype.hasOwnProperty.call(ROLES, role) ? ROLES[role] : String(role);
  }

  function showSignedIn(who, focus) {
    account = who;
    el.loading.hidden = true;
    el.form.hidden = true;
    el.who.textContent = "Logget ind som " + account.name + " (" + roleName(account.role) + ")";
    el.signedIn.hidden = false;
    if (focus) {
      el.who.focus();
    }
    if (desk) {
      desk.start(account, csrf, signedOut);
    }
  }

  function signedOut(text) {
    if (desk) {
      desk.stop();
    }
    csrf = null;
    showLogin(false);
    say(text, "error");
    el.title.focus();
  }

  function showLogin(focus) {
    account = null;
    if (desk) {
      desk.stop();
    }
    el.loading.hidden = true;
    el.signedIn.hidden = true;
    el.form.hidden = false;
    if (focus) {
      el.name.focus();
    }
  }

  async function checkSession() {
    const result = await api.getJSON("/api/me");
    if (result.status === 200 && result.data && result.data.account) {
      csrf = result.data.csrf || null;
      showSignedIn(result.data.account, false);
      return;
    }
    csrf = null;
    if (result.status !== 401) {
      problem(result, "Vi kunne ikke se, om du er logget ind. Du kan prøve at logge ind her.");
    }
    showLogin(false);
  }

  function invalid(input, text) {
    say(text, "error");
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  async function login(event) {
    event.preventDefault();
    clear();
    const name = el.name.value.trim();
    const password = el.password.value;
    const totp = el.totp.value.replace(/\s+/g, "");
    if (!name) {
      return invalid(el.name, "Skriv dit navn.");
    }
    if (!password) {
      return invalid(el.password, "Skriv din adgangskode.");
    }
    if (!/^[0-9]{6}$/.test(totp)) {
      return invalid(el.totp, "Koden fra din app skal være seks tal.");
    }
    if (desk) {
      desk.unlockSound(); // the click on "Log ind" lets the page ring later
    }
    el.loginButton.disabled = true;
    el.form.setAttribute("aria-busy", "true");
    say("Logger ind …");
    let result;
    try {
      result = await api.postJSON("/api/login", { name: name, password: password, totp: totp });
    } finally {
      el.loginButton.disabled = false;
      el.form.removeAttribute("aria-busy");
    }
    if (result.status === 200 && result.data && result.data.account) {
      csrf = result.data.csrf || null; // the token in the answer is not kept anywhere
      el.password.value = "";
      el.totp.value = "";
      el.showPassword.checked = false;
      el.password.type = "password";
      clear();
      showSignedIn(result.data.account, true);
      return;
    }
    el.totp.value = "";
    if (result.status === 401) {
      problem(result, "Det lykkedes ikke at logge ind. Tjek navn, adgangskode og koden fra din app.");
      el.password.focus();
    } else {
      problem(result, "Det lykkedes ikke at logge ind.");
    }
  }

  async function logout() {
    el.logoutButton.disabled = true;
    if (desk) {
      desk.stop(); // first, so the node closing the socket is not taken for an expired session
    }
    let result;
    try {
      result = await api.postJSON("/api/logout", {}, csrf);
    } finally {
      el.logoutButton.disabled = false;
    }
    if (result.status === 200 || result.status === 401) {
      csrf = null;
      showLogin(false);
      say("Du er logget ud.", "ok");
      el.title.focus();
      return;
    }
    problem(result, "Det lykkedes ikke at logge ud. Prøv igen.");
    if (desk && account) {
      desk.start(account, csrf, signedOut);
    }
  }

  el.showPassword.addEventListener("change", function () {
    el.password.type = el.showPassword.checked ? "text" : "password";
  });
  el.form.addEventListener("submit", login);
  el.logoutButton.addEventListener("click", logout);
  checkSession();
})();
