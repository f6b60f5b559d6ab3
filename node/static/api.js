/* fristed: tiny helpers for talking JSON to this node. No page logic here.
   Every call resolves to {status, data, retryAfter}; status 0 means the node could not be reached. */
"use strict";

(function (global) {
  async function request(method, url, body, csrf) {
    const headers = { "Accept": "application/json" };
    const init = {
      method: method,
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
      referrerPolicy: "no-referrer",
    };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (csrf) {
      headers["X-CSRF-Token"] = csrf;
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      return { status: 0, data: null, retryAfter: 0 };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    const header = parseInt(response.headers.get("Retry-After") || "", 10);
    return { status: response.status, data: data, retryAfter: Number.isFinite(header) ? header : 0 };
  }

  /** POST a JSON body (default {}); send csrf as X-CSRF-Token when given. */
  function postJSON(url, body, csrf) {
    return request("POST", url, body === undefined ? {} : body, csrf);
  }

  /** GET a JSON answer, with the session cookie. */
  function getJSON(url) {
    return request("GET", url);
  }

  /** Seconds to wait after a 429, from the body or the Retry-After header. */
  function waitSeconds(result) {
    const fromBody = result.data && Number(result.data.retry_after);
    const seconds = Number.isFinite(fromBody) && fromBody > 0 ? fromBody : result.retryAfter;
    return Math.max(1, Math.ceil(seconds || 1));
  }

  /** The server's own reason for a refusal (English), or "". */
  function reasonOf(result) {
    return result.data && typeof result.data.reason === "string" ? result.data.reason : "";
  }

  global.postJSON = postJSON;
  global.getJSON = getJSON;
  global.fristedApi = { postJSON: postJSON, getJSON: getJSON, waitSeconds: waitSeconds, reasonOf: reasonOf };
})(window);
