// Reel pages: shared helpers (API key, API calls, formatting, the key form).
// Plain script, no modules or build step: it defines one global, `Reel`.
"use strict";

(function () {
  const KEY_STORAGE = "reel.key";

  // localStorage throws in some private-browsing modes and sandboxed frames;
  // the pages still work then, only without remembering anything.
  function storageGet(name) {
    try { return window.localStorage.getItem(name); } catch (e) { return null; }
  }
  function storageSet(name, value) {
    try {
      if (value === null || value === undefined) window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, value);
    } catch (e) { /* see storageGet */ }
  }

  function apiKey() { return storageGet(KEY_STORAGE) || ""; }
  function setApiKey(key) { storageSet(KEY_STORAGE, key ? key.trim() : null); }

  // `reel up` prints page URLs ending in #key=…; take the key and drop the
  // fragment from the address bar (and history) so it is not shared by
  // copying the URL. Runs as soon as this script loads.
  (function takeKeyFromFragment() {
    const m = /^#key=([^&]*)/.exec(window.location.hash);
    if (!m) return;
    setApiKey(decodeURIComponent(m[1]));
    history.replaceState(history.state, "", window.location.pathname + window.location.search);
  })();

  function authHeaders() {
    const key = apiKey();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  // An error from the API with a sentence a person can read. `status` is the
  // HTTP status (0 for a network failure).
  class ApiError extends Error {
    constructor(status, message, problem) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.problem = problem || null;
    }
  }

  // Turns a failed response into an ApiError. RFC 9457 problem details
  // (application/problem+json: title, detail, status) become
  // "Title: detail"; anything else becomes "HTTP 502 Bad Gateway".
  async function errorFrom(response) {
    let problem = null;
    const type = response.headers.get("Content-Type") || "";
    if (/json/i.test(type)) {
      try { problem = await response.json(); } catch (e) { problem = null; }
    }
    let message;
    if (problem && (problem.title || problem.detail)) {
      message = [problem.title, problem.detail].filter(Boolean).join(": ");
    } else {
      message = "HTTP " + response.status + (response.statusText ? " " + response.statusText : "");
    }
    return new ApiError(response.status, message, problem);
  }

  // fetch() for the JSON API: adds the bearer key, parses JSON, throws
  // ApiError on failure. Returns null for an empty body (204).
  async function api(path, opts) {
    opts = Object.assign({}, opts || {});
    opts.headers = Object.assign({ Accept: "application/json" }, authHeaders(), opts.headers || {});
    let response;
    try {
      response = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, "Cannot reach the server (" + (e && e.message ? e.message : e) + ")");
    }
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // Small DOM builder: el("a", {href: "/", class: "x"}, "text", child…).
  // `style` may be an object (set through CSSOM, which a strict CSP allows).
  // Text goes in as text nodes, never as HTML, so titles cannot inject markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "style" && typeof value === "object") Object.assign(node.style, value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatDuration(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) return "";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + sec : m + ":" + sec;
  }

  function formatBytes(n) {
    if (typeof n !== "number" || !isFinite(n)) return "";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
  }

  // Renders the "paste your API key" form into `box` (an element on the page).
  // `reason` says why it is shown; `onSaved` runs after the key is stored.
  function showKeyForm(box, reason, onSaved) {
    const input = el("input", {
      type: "password", id: "key-input", name: "key", placeholder: "reel_…",
      autocomplete: "off", spellcheck: "false", required: true,
    });
    const form = el("form", { class: "key-form", id: "key-form" },
      el("p", {}, reason || "This server needs an API key."),
      el("label", { for: "key-input" }, "API key"),
      el("div", { class: "row" }, input, el("button", { type: "submit" }, "Save")),
      el("p", { class: "hint" },
        "Create one with ", el("code", {}, "reel keys create --name me --scope upload"),
        ". It is kept in this browser only."));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      setApiKey(input.value);
      box.replaceChildren();
      box.hidden = true;
      if (onSaved) onSaved();
    });
    box.replaceChildren(form);
    box.hidden = false;
    input.focus();
  }

  window.Reel = {
    apiKey, setApiKey, authHeaders, api, ApiError, errorFrom, el,
    formatDuration, formatBytes, showKeyForm, storageGet, storageSet,
  };
})();
