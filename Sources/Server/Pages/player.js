// player.js — Reel's own small HLS player over Media Source Extensions, for browsers that have no native
// HLS (Firefox). The watch page uses it only when `video.canPlayType("application/vnd.apple.mpegurl")` is
// empty and `window.MediaSource` exists; native playback stays the first choice.
//
// What it does, for the CMAF HLS that Reel writes (fMP4 init segments in EXT-X-MAP, .m4s media segments,
// audio in its own EXT-X-MEDIA TYPE=AUDIO group):
//   * parses the master playlist (video variants, the audio group, the SUBTITLES renditions, which
//     `captions` below turns into text tracks; CLOSED-CAPTIONS are ignored) and media playlists (EXTINF, EXT-X-MAP, EXT-X-ENDLIST). Relative URIs are
//     resolved against the playlist's URL; a URI without a query string keeps the playlist's query, so a
//     query the server needs reaches every segment.
//   * feeds two SourceBuffers (video, audio) in step: one request at a time, always for the track whose
//     next segment starts earliest, until ~30 s are buffered ahead of the playhead; what lies more than
//     30 s behind it is removed.
//   * starts on the lowest video rung and picks the rung of each next segment from the throughput it
//     measured on the segments so far (the highest rung whose BANDWIDTH fits in 70 % of it); a new rung's
//     init segment is appended before its first media segment (rungs share segment boundaries).
//   * seeking: a jump outside what is buffered drops the request in flight and continues from the segment
//     that holds the new time.
//   * a video still being encoded has EVENT playlists that grow: they are fetched again every few
//     seconds (the media duration grows with them) until EXT-X-ENDLIST shows up; once every track has
//     appended its last segment, endOfStream() ends the stream.
//   * errors (HTTP, MSE) are reported through `onError` with a sentence; the watch page shows it.
//
// Limits: no live sliding windows (segments are never dropped from a playlist), no byte ranges,
// no encryption, one audio rendition (the group's DEFAULT=YES one), no stall-driven
// down-switch beyond what the throughput of finished requests shows.
//
// Use: `const p = ReelPlayer.attach(video, masterUrl, {onRung(name), onError(message)})`; `p.destroy()`. The pages
// use `ReelPlayer.source(video, hooks)` (below): native HLS first, this player elsewhere, reloads in place.
// State for tests and the page: `video.dataset.player` ("mse"), `video.dataset.rung` (the rung of the last
// appended video segment), `video.dataset.endlist` ("1" once every playlist is final).
"use strict";
(function () {
  const AHEAD_S = 30;           // buffer this far ahead of the playhead
  const BEHIND_S = 30;          // keep this much behind it; older media is removed
  const SAFETY = 0.7;           // use this share of the measured throughput
  const REFRESH_MS = 2000;      // EVENT playlists are fetched again this often
  const TICK_MS = 500;          // the buffer is looked at this often (and on seeking / playlist changes)

  // ---------------------------------------------------------------- playlists

  // A URI from a playlist at `base`, absolute; keeps the base's query string when the URI has none.
  function resolve(uri, base) {
    const url = new URL(uri, base);
    const parent = new URL(base);
    if (!url.search && parent.search) url.search = parent.search;
    return url.href;
  }

  // `KEY=value,KEY="quoted, value"` → {KEY: "value", …}
  function attributes(text) {
    const out = {};
    const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
    let m;
    while ((m = re.exec(text))) out[m[1]] = m[2].startsWith('"') ? m[2].slice(1, -1) : m[2];
    return out;
  }

  function lines(text) {
    if (!text.startsWith("#EXTM3U")) throw new Error("this is not an HLS playlist");
    return text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  }

  // {variants: [{name, bandwidth, codecs, width, height, audio, url}], audio: {group: [{name, url, default}]},
  //  subtitles: [{name, language, default, url}]}
  function parseMaster(text, base) {
    const variants = [], audio = {}, subtitles = [];
    const all = lines(text);
    for (let i = 0; i < all.length; i++) {
      const line = all[i];
      if (line.startsWith("#EXT-X-STREAM-INF:")) {
        const a = attributes(line.slice(18));
        const uri = all[i + 1];
        if (!uri || uri.startsWith("#")) continue;
        const [w, h] = (a.RESOLUTION || "0x0").split("x").map(Number);
        variants.push({
          name: uri.split("?")[0].split("/").slice(-2, -1)[0] || uri, bandwidth: Number(a.BANDWIDTH) || 0,
          codecs: (a.CODECS || "").split(",").map((c) => c.trim()).filter(Boolean),
          width: w || 0, height: h || 0, audio: a.AUDIO || null, url: resolve(uri, base),
        });
      } else if (line.startsWith("#EXT-X-MEDIA:")) {
        const a = attributes(line.slice(13));
        if (!a.URI) continue; // CLOSED-CAPTIONS (in-band 608): not played here
        if (a.TYPE === "SUBTITLES") {
          subtitles.push({ name: a.NAME || a.LANGUAGE || "subtitles", language: a.LANGUAGE || "",
            default: a.DEFAULT === "YES", url: resolve(a.URI, base) });
          continue;
        }
        if (a.TYPE !== "AUDIO") continue;
        (audio[a["GROUP-ID"]] = audio[a["GROUP-ID"]] || []).push({
          name: a.NAME || "audio", url: resolve(a.URI, base), default: a.DEFAULT === "YES",
        });
      }
    }
    if (!variants.length) throw new Error("the master playlist lists no streams");
    variants.sort((x, y) => x.bandwidth - y.bandwidth);
    return { variants, audio, subtitles };
  }

  // {init (null without EXT-X-MAP), segments: [{url, start, duration}], ended, duration}
  function parseMedia(text, base) {
    const segments = [];
    let init = null, ended = false, start = 0, extinf = null;
    for (const line of lines(text)) {
      if (line.startsWith("#EXT-X-MAP:")) init = resolve(attributes(line.slice(11)).URI, base);
      else if (line.startsWith("#EXTINF:")) extinf = parseFloat(line.slice(8));
      else if (line === "#EXT-X-ENDLIST") ended = true;
      else if (!line.startsWith("#") && extinf !== null) {
        segments.push({ url: resolve(line, base), start, duration: extinf });
        start += extinf;
        extinf = null;
      }
    }
    return { init, segments, ended, duration: start };
  }

  // A media playlist of fMP4 segments: as parseMedia, and it must name its init segment.
  function parseFragmented(text, base) {
    const playlist = parseMedia(text, base);
    if (!playlist.init) throw new Error("a media playlist has no EXT-X-MAP init segment");
    return playlist;
  }

  const isAudioCodec = (c) => /^(mp4a|ac-3|ec-3|opus|flac)/i.test(c);

  // ---------------------------------------------------------------- the player

  function attach(video, masterUrl, hooks = {}) {
    masterUrl = new URL(masterUrl, location.href).href; // the API gives a path
    const ms = new MediaSource();
    // {kind: "video"|"audio", sb, playlist (the one read now), next (its index to fetch), initUrl (appended
    //  last); video also: variant (its rung), playlists (URL → parsed, per rung); audio also: url}
    const tracks = [];
    const inits = new Map();         // init URL → bytes
    let variants = [], throughput = 0, generation = 0, controller = null;
    let pumping = false, destroyed = false, ended = false, timer = null, refresher = null;
    video.dataset.player = "mse";
    video.dataset.endlist = "";

    const fail = (message) => {
      if (destroyed) return;
      video.dataset.playerError = message;
      if (hooks.onError) hooks.onError(message);
    };

    async function get(url, binary) {
      controller = new AbortController();
      const t0 = performance.now();
      const response = await fetch(url, { signal: controller.signal, cache: "no-store" });
      if (!response.ok) throw new Error("the server answered " + response.status + " for " + new URL(url).pathname);
      const body = binary ? new Uint8Array(await response.arrayBuffer()) : await response.text();
      const seconds = Math.max((performance.now() - t0) / 1000, 0.001);
      return { body, seconds };
    }

    function append(sb, bytes) {
      return new Promise((resolve, reject) => {
        const done = () => { sb.removeEventListener("updateend", done); sb.removeEventListener("error", bad); resolve(); };
        const bad = () => { sb.removeEventListener("updateend", done); sb.removeEventListener("error", bad);
          reject(new Error("the browser could not take a media segment")); };
        sb.addEventListener("updateend", done);
        sb.addEventListener("error", bad);
        sb.appendBuffer(bytes);
      });
    }

    function remove(sb, from, to) {
      return new Promise((resolve) => {
        sb.addEventListener("updateend", resolve, { once: true });
        sb.remove(from, to);
      });
    }

    // Seconds buffered from `t` on, in the range that holds it (0 when `t` is not buffered).
    function bufferedAhead(sb, t) {
      const b = sb.buffered;
      for (let i = 0; i < b.length; i++) if (b.start(i) <= t + 0.1 && t < b.end(i)) return b.end(i) - t;
      return 0;
    }

    const indexAt = (segments, t) => {
      let i = 0;
      while (i + 1 < segments.length && segments[i + 1].start <= t) i++;
      return i;
    };

    // The playlist a video track reads right now (loaded on first use).
    async function rungPlaylist(track, variant) {
      if (!track.playlists.has(variant.url)) {
        const { body } = await get(variant.url, false);
        track.playlists.set(variant.url, parseFragmented(body, variant.url));
      }
      return track.playlists.get(variant.url);
    }

    // The rung for the next video segment: the highest that fits the measured throughput.
    function chooseVariant() {
      if (!throughput) return variants[0];
      let pick = variants[0];
      for (const v of variants) if (v.bandwidth <= throughput * SAFETY) pick = v;
      return pick;
    }

    const allFinal = () => tracks.every((t) => t.playlist.ended);

    // How far the media goes: while playlists still grow, as far as every track goes.
    function extent() {
      const ends = tracks.map((t) => t.playlist.duration);
      return allFinal() ? Math.max(...ends) : Math.min(...ends);
    }

    function setDuration() {
      if (ms.readyState !== "open" || tracks.some((t) => t.sb.updating)) return;
      const buffered = Math.max(0, ...tracks.map((t) => (t.sb.buffered.length ? t.sb.buffered.end(t.sb.buffered.length - 1) : 0)));
      const d = Math.max(extent(), buffered);
      if (d > 0 && (!Number.isFinite(ms.duration) || Math.abs(ms.duration - d) > 0.01)) ms.duration = d;
    }

    // One step of work: fetch and append the earliest wanted segment of any track. False: nothing to do.
    async function step() {
      const now = video.currentTime;
      const limit = extent() + 0.1; // a track whose playlist is further along waits for the others
      let track = null, seg = null;
      for (const t of tracks) {
        const s = t.playlist.segments[t.next];
        if (!s || s.start > now + AHEAD_S || s.start + s.duration > limit) continue;
        if (!seg || s.start < seg.start) { track = t; seg = s; }
      }
      if (!track) {
        if (!ended && allFinal() && tracks.every((t) => t.next >= t.playlist.segments.length) &&
            ms.readyState === "open" && !tracks.some((t) => t.sb.updating)) {
          ended = true;
          setDuration();
          ms.endOfStream();
        }
        return false;
      }
      const gen = generation;
      if (track.kind === "video") {
        const variant = chooseVariant();
        if (variant !== track.variant) {
          const playlist = await rungPlaylist(track, variant);
          if (gen !== generation) return true;
          // Rungs may differ in codec profile (avc1.4d… / avc1.64…): tell the buffer before the new init.
          const codec = variant.codecs.filter((c) => !isAudioCodec(c)).join(",");
          if (codec && track.sb.changeType) track.sb.changeType('video/mp4; codecs="' + codec + '"');
          track.variant = variant;
          track.playlist = playlist;
          track.next = indexAt(playlist.segments, seg.start + 0.01);
          seg = playlist.segments[track.next];
          if (!seg) return true;
        }
      }
      if (track.initUrl !== track.playlist.init) {
        if (!inits.has(track.playlist.init)) inits.set(track.playlist.init, (await get(track.playlist.init, true)).body);
        if (gen !== generation) return true;
        await append(track.sb, inits.get(track.playlist.init));
        track.initUrl = track.playlist.init;
      }
      const { body, seconds } = await get(seg.url, true);
      if (gen !== generation) return true;
      // Bits a second over this request, smoothed; small requests say little, so they count less.
      const measured = (body.byteLength * 8) / seconds;
      const weight = Math.min(1, body.byteLength / 200000);
      throughput = throughput ? throughput * (1 - 0.5 * weight) + measured * 0.5 * weight : measured;
      // Evict behind the playhead first, so the append has room.
      const b = track.sb.buffered;
      if (b.length && b.start(0) < video.currentTime - BEHIND_S) await remove(track.sb, 0, video.currentTime - BEHIND_S);
      try {
        await append(track.sb, body);
      } catch (e) {
        if (e.name !== "QuotaExceededError") throw e;
        await remove(track.sb, 0, Math.max(0, video.currentTime - 2));
        await append(track.sb, body);
      }
      track.next++;
      if (track.kind === "video") {
        video.dataset.rung = track.variant.name;
        if (hooks.onRung) hooks.onRung(track.variant.name);
      }
      setDuration();
      return true;
    }

    async function pump() {
      if (pumping || destroyed || ms.readyState === "closed") return;
      pumping = true;
      try {
        while (!destroyed && (await step()));
      } catch (e) {
        if (e.name !== "AbortError" && !destroyed) fail("Playback stopped: " + e.message + ".");
      } finally {
        pumping = false;
      }
    }

    // EVENT playlists grow while the video is encoded: fetch them again until they are final.
    async function refresh() {
      if (destroyed) return;
      try {
        for (const t of tracks) {
          if (t.playlist.ended) continue;
          const url = t.kind === "video" ? t.variant.url : t.url;
          const r = await fetch(url, { cache: "no-store" });
          if (!r.ok) throw new Error("the server answered " + r.status + " for " + new URL(url).pathname);
          const playlist = parseFragmented(await r.text(), url);
          if (t.kind === "video") {
            t.playlists.set(url, playlist);
            for (const key of [...t.playlists.keys()]) if (key !== url) t.playlists.delete(key); // reload on switch
          }
          t.playlist = playlist;
        }
        if (allFinal()) video.dataset.endlist = "1";
        setDuration();
        pump();
      } catch (e) {
        fail("The playlist could not be read again: " + e.message + ".");
      }
      if (!allFinal()) refresher = setTimeout(refresh, REFRESH_MS);
    }

    function onSeeking() {
      const t = video.currentTime;
      if (tracks.every((tr) => bufferedAhead(tr.sb, t) > 0.5)) return;
      generation++;
      if (controller) controller.abort();
      for (const tr of tracks) tr.next = indexAt(tr.playlist.segments, t);
      if (ended && ms.readyState === "ended") ended = false; // appending again reopens the stream
      const again = () => (pumping ? setTimeout(again, 50) : pump());
      again();
    }

    async function open() {
      const { body } = await get(masterUrl, false);
      const master = parseMaster(body, masterUrl);
      const withVideo = master.variants.filter((v) => v.codecs.some((c) => !isAudioCodec(c)) || v.width > 0);
      variants = withVideo;
      const first = master.variants[0];
      const group = first.audio && master.audio[first.audio];
      const audio = group ? (group.find((a) => a.default) || group[0]) : null;
      if (variants.length) {
        const codec = variants[0].codecs.filter((c) => !isAudioCodec(c)).join(",") || "avc1.640028";
        const type = 'video/mp4; codecs="' + codec + '"';
        if (!MediaSource.isTypeSupported(type)) throw new Error("this browser cannot play " + type);
        const track = { kind: "video", sb: ms.addSourceBuffer(type), playlists: new Map(), variant: null, next: 0, initUrl: null };
        track.variant = variants[0];
        track.playlist = await rungPlaylist(track, variants[0]);
        tracks.push(track);
      }
      const audioUrl = audio ? audio.url : (!variants.length ? first.url : null);
      if (audioUrl) {
        const codec = first.codecs.filter(isAudioCodec).join(",") || "mp4a.40.2";
        const type = 'audio/mp4; codecs="' + codec + '"';
        if (!MediaSource.isTypeSupported(type)) throw new Error("this browser cannot play " + type);
        const { body: text } = await get(audioUrl, false);
        tracks.push({ kind: "audio", sb: ms.addSourceBuffer(type), url: audioUrl, playlist: parseFragmented(text, audioUrl), next: 0, initUrl: null });
      }
      setDuration();
      if (!allFinal()) refresher = setTimeout(refresh, REFRESH_MS);
      else video.dataset.endlist = "1";
      video.addEventListener("seeking", onSeeking);
      timer = setInterval(pump, TICK_MS);
      pump();
    }

    ms.addEventListener("sourceopen", () => {
      open().catch((e) => { if (e.name !== "AbortError") fail("The video could not be loaded: " + e.message + "."); });
    }, { once: true });
    const objectUrl = URL.createObjectURL(ms);
    video.src = objectUrl;

    return {
      get rung() { return video.dataset.rung || ""; },
      get throughput() { return throughput; },
      destroy() {
        destroyed = true;
        clearInterval(timer);
        clearTimeout(refresher);
        if (controller) controller.abort();
        video.removeEventListener("seeking", onSeeking);
        URL.revokeObjectURL(objectUrl);
      },
    };
  }

  // ---------------------------------------------------------------- captions

  // "hh:mm:ss.ttt" or "mm:ss.ttt" → seconds; null when it is neither.
  function vttTime(text) {
    const m = /^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$/.exec(text.trim());
    return m ? Number(m[1] || 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000 : null;
  }

  // One WebVTT file (a whole track or one HLS segment) → [{start, end, text, settings}] on the media
  // timeline: an X-TIMESTAMP-MAP header moves its cues so that LOCAL lands on MPEGTS (90 kHz ticks of
  // the media timeline, which for fMP4 is the segments' own timeline).
  function parseVTT(text) {
    const blocks = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").split(/\n{2,}/);
    if (!/^WEBVTT(?:[ \t\n]|$)/.test(blocks[0])) throw new Error("a caption file does not start with WEBVTT");
    let shift = 0;
    const map = /^X-TIMESTAMP-MAP=(.*)$/m.exec(blocks[0]);
    if (map) {
      const a = {};
      for (const part of map[1].split(",")) {
        const at = part.indexOf(":");
        if (at > 0) a[part.slice(0, at).trim()] = part.slice(at + 1).trim();
      }
      const local = vttTime(a.LOCAL || "00:00.000");
      const ticks = Number(a.MPEGTS);
      if (Number.isFinite(ticks) && local !== null) shift = ticks / 90000 - local;
    }
    const cues = [];
    for (const block of blocks.slice(1)) {
      const rows = block.split("\n");
      if (/^(NOTE|STYLE|REGION)(?:[ \t]|$)/.test(rows[0])) continue;
      const timing = rows.findIndex((r) => r.includes("-->"));
      if (timing < 0 || timing > 1) continue;
      const m = /^\s*(\S+)\s+-->\s+(\S+)\s*(.*)$/.exec(rows[timing]);
      const start = m && vttTime(m[1]), end = m && vttTime(m[2]);
      if (start === null || end === null || !(end > start) || !Number.isFinite(start + shift)) continue;
      cues.push({ start: start + shift, end: end + shift, text: rows.slice(timing + 1).join("\n"), settings: m[3] });
    }
    return cues;
  }

  // A VTTCue with the settings a browser takes (align, line, position, size, vertical); others are skipped.
  function makeCue(c) {
    const cue = new VTTCue(c.start, c.end, c.text);
    for (const setting of c.settings.split(/\s+/).filter(Boolean)) {
      const [key, value] = setting.split(":");
      try {
        if (key === "align") cue.align = value;
        else if (key === "vertical") cue.vertical = value;
        else if (key === "line") cue.line = value.endsWith("%") ? parseFloat(value) : parseInt(value, 10);
        else if (key === "position") cue.position = parseFloat(value);
        else if (key === "size") cue.size = parseFloat(value);
      } catch (e) { /* a value this browser refuses: its default stays */ }
    }
    return cue;
  }

  // The SUBTITLES renditions of a master playlist as text tracks of `video`, for players that do not
  // make them themselves: Chromium's built-in HLS and player.js. Each rendition becomes one
  // addTextTrack("subtitles") listed in the browser's caption menu; the DEFAULT=YES one is showing. Its
  // segmented WebVTT is fetched around the playhead (what it shows now and the next minute), so a long
  // film does not start with hundreds of requests. Where the browser lists the renditions itself
  // (Safari) nothing is added. `load(masterUrl)` can be called again (captions uploaded or deleted):
  // new renditions are added, ones the master no longer names are emptied and disabled (a text track
  // cannot be removed). Failures never stop playback; the last one is in `video.dataset.captionsError`.
  function captions(video) {
    const AHEAD = 60, BEHIND = 5;
    const live = new Map();     // key(rendition URL) → {track, playlist, fetched: Set of segment keys, busy}
    let version = 0;

    // The same file under another signature (private videos get fresh signed paths) has the same key.
    const key = (url) => {
      const path = new URL(url).pathname;
      const at = path.indexOf("/hls/");
      return at >= 0 ? path.slice(at) : path;
    };
    const note = (e) => { video.dataset.captionsError = e.message; };
    const metadata = () => new Promise((resolve) => {
      if (video.readyState >= 1) resolve();
      else video.addEventListener("loadedmetadata", resolve, { once: true });
    });

    async function text(url) {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) throw new Error("the server answered " + response.status + " for " + new URL(url).pathname);
      return response.text();
    }

    // Fetches the segments of one track that cover [now − BEHIND, now + AHEAD], one at a time.
    async function fill(entry) {
      if (entry.busy || entry.track.mode === "disabled" || !entry.playlist) return;
      entry.busy = true;
      try {
        const now = video.currentTime;
        for (const seg of entry.playlist.segments) {
          const k = key(seg.url);
          if (seg.start + seg.duration < now - BEHIND || seg.start > now + AHEAD || entry.fetched.has(k)) continue;
          entry.fetched.add(k);
          let cues;
          try {
            cues = parseVTT(await text(seg.url));
          } catch (e) {
            entry.fetched.delete(k); // tried again at the next timeupdate
            throw e;
          }
          for (const c of cues) {
            const id = c.start.toFixed(3) + "|" + c.end.toFixed(3) + "|" + c.text; // a cue spanning segments comes in each
            if (entry.cueIds.has(id) || !live.has(entry.key)) continue;
            entry.cueIds.add(id);
            entry.track.addCue(makeCue(c));
          }
        }
      } catch (e) {
        note(e);
      } finally {
        entry.busy = false;
      }
    }

    const fillAll = () => { for (const entry of live.values()) fill(entry); };
    for (const type of ["timeupdate", "seeking"]) video.addEventListener(type, fillAll);

    async function load(masterUrl) {
      const mine = ++version;
      try {
        masterUrl = new URL(masterUrl, location.href).href;
        const master = parseMaster(await text(masterUrl), masterUrl);
        await metadata();
        if (mine !== version) return;
        const wanted = new Map(master.subtitles.map((r) => [key(r.url), r]));
        for (const [k, entry] of live) {
          if (wanted.has(k)) continue;
          for (const cue of Array.from(entry.track.cues || [])) entry.track.removeCue(cue);
          entry.track.mode = "disabled";
          live.delete(k);
        }
        for (const [k, r] of wanted) {
          if (live.has(k)) { // still there: read its playlist from this (perhaps newly signed) address
            live.get(k).playlist = parseMedia(await text(r.url), r.url);
            continue;
          }
          const listed = Array.from(video.textTracks).some((t) => t.language === r.language && t.label === r.name &&
            !Array.from(live.values()).some((e) => e.track === t));
          if (listed) continue; // the browser's own HLS made it
          const track = video.addTextTrack("subtitles", r.name, r.language);
          track.mode = r.default ? "showing" : "hidden";
          const entry = { key: k, track, playlist: null, fetched: new Set(), cueIds: new Set(), busy: false };
          live.set(k, entry);
          entry.playlist = parseMedia(await text(r.url), r.url);
          fill(entry);
        }
      } catch (e) {
        note(e);
      }
    }

    return { load, get tracks() { return Array.from(live.values(), (e) => e.track); } };
  }

  // ---------------------------------------------------------------- the pages' source

  // Points `video` at master playlists, natively where the browser plays HLS (Safari, Chromium) and
  // through attach() elsewhere, and reloads it in place: same time, and playing if the viewer wants it
  // so. That wish is kept across our own reloads, since loading a source (or a media error) pauses the
  // element. Used by the watch and embed pages. `hooks` go to attach().
  function source(video, hooks = {}) {
    let mse = null, wantsPlay = false, reloading = false;
    video.addEventListener("play", () => { wantsPlay = true; });
    video.addEventListener("pause", () => { if (!reloading && !video.error) wantsPlay = false; });
    video.addEventListener("ended", () => { wantsPlay = false; });
    const native = !!document.createElement("video").canPlayType("application/vnd.apple.mpegurl") || !window.MediaSource;

    function set(url) {
      video.dataset.src = url;
      if (mse) mse.destroy();
      mse = null;
      if (native) {
        video.dataset.player = "native";
        video.src = url;
        return;
      }
      mse = attach(video, url, hooks);
    }

    function reload(url) {
      const at = video.currentTime;
      reloading = true;
      set(url);
      video.addEventListener("loadedmetadata", () => {
        reloading = false;
        if (at > 0) video.currentTime = at;
        if (wantsPlay) video.play().catch(() => {});
      }, { once: true });
    }

    // player.js follows growing playlists to their end itself: a page need not reload it when ready.
    return { set, reload, get followsPlaylists() { return mse !== null; } };
  }

  window.ReelPlayer = { attach, source, captions, parseMaster, parseMedia, parseVTT, resolve };
})();
