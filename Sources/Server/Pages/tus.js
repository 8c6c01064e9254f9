// A small tus 1.0.0 client (core protocol + creation + termination), written for
// Reel's upload page. See https://tus.io/protocols/resumable-upload.
//
//   const up = new Tus.Upload(file, {endpoint: "/v1/uploads", metadata: {...},
//                                    headers: () => ({Authorization: "Bearer …"}),
//                                    onProgress, onState, onSuccess, onError});
//   up.start(); up.pause(); up.start();
//
// What it does on trouble:
//   * network error, 5xx, 423 (another PATCH still holds the upload), 409 (our
//     offset is stale): wait 1, 2, 4, 8 … s (at most 30 s, as often as it takes
//     while the page is open), then ask the server for its offset with HEAD and
//     continue from there. Coming back online cuts the wait short.
//   * 404 / 410 (expired, unknown or terminated): forget the URL, start over.
//   * anything else (401, 403, 413, 507, 400 …): stop and report the error.
// The upload URL is kept in localStorage under the file's name, size and
// modification time, so picking the same file after a reload resumes it.
"use strict";

(function () {
  const TUS_VERSION = "1.0.0";
  const DEFAULT_CHUNK = 8 * 1024 * 1024;
  const MAX_BACKOFF_S = 30;
  // A PATCH that makes no progress for this long is treated as a dead
  // connection (a silently dropped TCP connection never errors by itself).
  const STALL_MS = 60 * 1000;
  const STORE_PREFIX = "reel.upload:";

  const live = new Set(); // uploads that may be sleeping in a backoff

  // Base64 of the UTF-8 bytes (btoa alone only takes Latin-1).
  function base64(text) {
    let binary = "";
    for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
    return btoa(binary);
  }

  // Upload-Metadata: "key base64(value),key base64(value)".
  function encodeMetadata(meta) {
    return Object.entries(meta || {})
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => k + " " + base64(String(v)))
      .join(",");
  }

  function fingerprint(file) {
    return STORE_PREFIX + file.name + ":" + file.size + ":" + file.lastModified;
  }

  function load(key) {
    try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }
  function save(key, value) {
    try {
      if (value) window.localStorage.setItem(key, JSON.stringify(value));
      else window.localStorage.removeItem(key);
    } catch (e) { /* no storage: resuming after a reload just won't work */ }
  }

  // Unfinished uploads remembered in this browser: [{name, size, url, createdAt}].
  function pending() {
    const out = [];
    try {
      for (let i = 0; i < window.localStorage.length; i++) {
        const key = window.localStorage.key(i);
        if (key && key.startsWith(STORE_PREFIX)) {
          const entry = load(key);
          if (entry) out.push(entry);
        }
      }
    } catch (e) { /* see load */ }
    return out;
  }

  // kind: "retry" (wait, re-sync, go on), "restart" (new upload), "fatal", "paused".
  class TusError extends Error {
    constructor(kind, message, status) {
      super(message);
      this.name = "TusError";
      this.kind = kind;
      this.status = status || 0;
    }
  }

  function kindFor(status) {
    if (status === 404 || status === 410) return "restart";
    if (status === 423 || status === 409 || status === 408 || status === 429 || status >= 500) return "retry";
    return "fatal";
  }

  // The server's problem+json title/detail if there is one, else the status.
  function describe(status, contentType, body) {
    if (/json/i.test(contentType || "") && body) {
      try {
        const p = JSON.parse(body);
        const text = [p.title, p.detail].filter(Boolean).join(": ");
        if (text) return text;
      } catch (e) { /* fall through */ }
    }
    return "HTTP " + status;
  }

  async function failure(response) {
    let body = "";
    try { body = await response.text(); } catch (e) { /* ignore */ }
    const status = response.status;
    return new TusError(kindFor(status), describe(status, response.headers.get("Content-Type"), body), status);
  }

  class Upload {
    constructor(file, options) {
      this.file = file;
      this.options = Object.assign({ endpoint: "/v1/uploads", chunkSize: DEFAULT_CHUNK, metadata: {} }, options);
      this.key = fingerprint(file);
      this.url = null;        // absolute upload URL once created
      this.offset = 0;        // bytes the server is known to have
      this.synced = false;    // offset confirmed since the last error
      this.videoId = null;
      this.state = "idle";
      this.paused = false;
      this.running = false;
      this.attempt = 0;       // failures in a row, for the backoff
      this.xhr = null;
      this.wake = null;       // ends the current backoff sleep early
    }

    // Starts, or resumes after pause() or an error.
    start() {
      this.paused = false;
      if (this.running || this.state === "done") return;
      this.attempt = 0;
      live.add(this);
      this.run();
    }

    // Stops sending now (aborting the request in flight); start() resumes.
    pause() {
      if (this.state === "done") return;
      this.paused = true;
      if (this.xhr) this.xhr.abort();
      if (this.wake) this.wake();
      this.setState("paused");
    }

    // Termination: stop and ask the server to delete what it has.
    async cancel() {
      this.pause();
      save(this.key, null);
      if (this.url) {
        try { await fetch(this.url, { method: "DELETE", headers: this.headers() }); } catch (e) { /* best effort */ }
      }
      this.url = null;
      this.setState("cancelled");
    }

    headers(extra) {
      const custom = typeof this.options.headers === "function" ? this.options.headers() : this.options.headers;
      return Object.assign({ "Tus-Resumable": TUS_VERSION }, custom || {}, extra || {});
    }

    setState(state, info) {
      this.state = state;
      if (this.options.onState) this.options.onState(state, info || {});
    }

    progress(bytes) {
      if (this.options.onProgress) this.options.onProgress(bytes, this.file.size);
    }

    async run() {
      this.running = true;
      try {
        while (!this.paused) {
          try {
            await this.step();
            return;
          } catch (err) {
            if (this.paused) break;
            this.synced = false;
            let kind = err instanceof TusError ? err.kind : "retry";
            if (kind === "paused") kind = "retry"; // aborted, but not by pause()
            if (kind === "restart") {
              save(this.key, null);
              this.url = null;
              this.offset = 0;
              this.setState("restarting", { message: err.message });
              continue;
            }
            if (kind !== "retry") {
              this.setState("error", { message: err.message, status: err.status });
              if (this.options.onError) this.options.onError(err);
              return;
            }
            const delay = Math.min(MAX_BACKOFF_S, Math.pow(2, this.attempt));
            this.attempt++;
            this.setState("retrying", { message: err.message, delay, attempt: this.attempt });
            await this.sleep(delay * 1000);
          }
        }
        // Left the loop because of pause(): later state changes (a request that
        // was already answering) must not leave the row saying "uploading".
        if (this.paused && this.state !== "cancelled") this.setState("paused");
      } finally {
        this.running = false;
        if (this.state === "done" || this.state === "error") live.delete(this);
      }
    }

    // One pass: create or re-sync, PATCH until the end, find the video id.
    async step() {
      if (!this.url) {
        const saved = load(this.key);
        if (saved && saved.url) this.url = saved.url;
      }
      if (!this.url) await this.create();
      else if (!this.synced) await this.head();
      if (this.paused) throw new TusError("paused", "paused");
      this.setState("uploading", { offset: this.offset });
      while (this.offset < this.file.size) {
        if (this.paused) throw new TusError("paused", "paused");
        await this.patch();
        this.attempt = 0; // progress was made: the next failure waits 1 s again
      }
      if (!this.videoId) await this.findVideo();
      save(this.key, null);
      this.setState("done", { videoId: this.videoId });
      if (this.options.onSuccess) this.options.onSuccess(this.videoId);
    }

    async create() {
      this.setState("creating");
      const response = await fetch(this.options.endpoint, {
        method: "POST",
        headers: this.headers({
          "Upload-Length": String(this.file.size),
          "Upload-Metadata": encodeMetadata(this.options.metadata),
        }),
      });
      if (response.status !== 201 && response.status !== 200) {
        const err = await failure(response);
        if (err.kind === "restart") err.kind = "fatal"; // a 404 on POST: wrong endpoint, not a stale upload
        throw err;
      }
      const location = response.headers.get("Location");
      if (!location) throw new TusError("fatal", "the server created the upload but sent no Location");
      this.url = new URL(location, new URL(this.options.endpoint, window.location.href)).href;
      this.offset = 0;
      this.synced = true;
      this.videoId = response.headers.get("Reel-Video-Id") || null; // an empty file is done at once
      save(this.key, {
        url: this.url, name: this.file.name, size: this.file.size, createdAt: new Date().toISOString(),
      });
    }

    // Ask the server how much it has (after an error, or a reload).
    async head() {
      this.setState("syncing");
      const response = await fetch(this.url, { method: "HEAD", headers: this.headers(), cache: "no-store" });
      if (!response.ok) throw await failure(response);
      const offset = parseInt(response.headers.get("Upload-Offset"), 10);
      const length = response.headers.get("Upload-Length");
      if (!(offset >= 0)) throw new TusError("retry", "HEAD answered without an Upload-Offset");
      if (length !== null && parseInt(length, 10) !== this.file.size) {
        throw new TusError("restart", "the stored upload has another length");
      }
      this.offset = offset;
      this.synced = true;
      this.progress(offset);
    }

    // One chunk with XMLHttpRequest, whose upload events drive the progress bar.
    patch() {
      const start = this.offset;
      const end = Math.min(this.file.size, start + this.options.chunkSize);
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        this.xhr = xhr;
        let stallTimer = null;
        const armStall = () => {
          clearTimeout(stallTimer);
          stallTimer = setTimeout(() => { xhr.stalled = true; xhr.abort(); }, STALL_MS);
        };
        const finish = (fn, value) => {
          clearTimeout(stallTimer);
          if (this.xhr === xhr) this.xhr = null;
          fn(value);
        };
        xhr.open("PATCH", this.url, true);
        const headers = this.headers({
          "Upload-Offset": String(start),
          "Content-Type": "application/offset+octet-stream",
        });
        for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
        xhr.upload.onprogress = (e) => { armStall(); this.progress(start + e.loaded); };
        xhr.onload = () => {
          const status = xhr.status;
          if (status === 204 || status === 200) {
            const offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
            if (!(offset > start)) {
              finish(reject, new TusError("retry", "PATCH answered without a new Upload-Offset"));
              return;
            }
            this.offset = offset;
            this.videoId = xhr.getResponseHeader("Reel-Video-Id") || this.videoId;
            this.progress(offset);
            finish(resolve);
            return;
          }
          finish(reject, new TusError(kindFor(status),
            describe(status, xhr.getResponseHeader("Content-Type"), xhr.responseText), status));
        };
        xhr.onerror = () => finish(reject, new TusError("retry", "network error"));
        xhr.ontimeout = () => finish(reject, new TusError("retry", "timed out"));
        xhr.onabort = () => finish(reject, xhr.stalled
          ? new TusError("retry", "no progress for " + STALL_MS / 1000 + " s")
          : new TusError("paused", "paused"));
        armStall();
        xhr.send(this.file.slice(start, end));
      });
    }

    // The last byte is on the server but we missed the answer that named the
    // video (the connection dropped during the final PATCH): ask the upload.
    async findVideo() {
      this.setState("finishing");
      for (let i = 0; i < 10 && !this.videoId; i++) {
        const response = await fetch(this.url, {
          headers: this.headers({ Accept: "application/json" }), cache: "no-store",
        });
        if (!response.ok) throw await failure(response);
        const info = await response.json();
        this.videoId = info.videoId || null;
        if (!this.videoId) await new Promise((r) => setTimeout(r, 1000));
      }
      if (!this.videoId) throw new TusError("retry", "the upload is complete but has no video yet");
    }

    sleep(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        const self = this;
        function done() { clearTimeout(timer); if (self.wake === done) self.wake = null; resolve(); }
        this.wake = done;
      });
    }
  }

  // Back online: retry now instead of at the end of the backoff.
  window.addEventListener("online", () => {
    for (const up of live) if (up.wake) up.wake();
  });

  window.Tus = { Upload, TusError, encodeMetadata, fingerprint, pending, VERSION: TUS_VERSION };
})();
