// Scrubbing previews for the watch page (issue 12): a slim scrub bar under the <video>, and above it,
// while the pointer hovers or drags it, the storyboard thumbnail of that time with the time.
//
// The native controls tell nothing about where the pointer is, hence a bar of our own: it follows
// currentTime, seeks on click and drag, and is a keyboard slider (arrows ±5 s, Page Up/Down ±10 %,
// Home/End). The thumbnails come from the video's storyboardUrl, a WebVTT file whose cues are
// "storyboard/<n>.jpg#xywh=x,y,w,h": the thumbnail is a div showing that rectangle of the sheet.
//
//   ReelStoryboard.parse(text, baseUrl) → [{start, end, url, x, y, w, h}] (sheet URLs made absolute)
//   ReelStoryboard.find(cues, time)    → the cue showing at `time`, or null
//   ReelStoryboard.attach(video, url)  → the scrub bar (added after the video once, whatever the calls)
(function () {
  "use strict";

  // "hh:mm:ss.ttt" or "mm:ss.ttt" → seconds.
  function seconds(text) {
    const parts = text.trim().split(":").map(Number);
    return parts.reduce((total, part) => total * 60 + part, 0);
  }

  function parse(text, baseUrl) {
    const cues = [];
    const lines = text.replace(/\r\n?/g, "\n").split("\n");
    for (let i = 0; i < lines.length; i++) {
      const times = lines[i].split("-->");
      if (times.length !== 2) continue;
      const payload = (lines[i + 1] || "").trim();
      const match = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(payload);
      if (!match) continue;
      cues.push({
        start: seconds(times[0]), end: seconds(times[1].trim().split(/\s+/)[0]),
        url: new URL(match[1], baseUrl).href,
        x: +match[2], y: +match[3], w: +match[4], h: +match[5],
      });
    }
    return cues.sort((a, b) => a.start - b.start);
  }

  // Binary search: the last cue starting at or before `time`, if it still shows then.
  function find(cues, time) {
    let lo = 0, hi = cues.length - 1, found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (cues[mid].start <= time) { found = cues[mid]; lo = mid + 1; } else { hi = mid - 1; }
    }
    // The far end of the bar (time = duration) still shows the last thumbnail.
    return found && (time < found.end || found === cues[cues.length - 1]) ? found : null;
  }

  function clock(t) {
    t = Math.max(0, Math.floor(t || 0));
    const h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, s = t % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
  }

  function attach(video, url) {
    if (video.reelScrub) return video.reelScrub;
    const make = (cls, tag) => { const e = document.createElement(tag || "div"); e.className = cls; return e; };
    const bar = make("scrub"), fill = make("scrub-fill"), preview = make("scrub-preview");
    const thumb = make("scrub-thumb"), label = make("scrub-time", "span");
    bar.id = "scrub";
    bar.tabIndex = 0;
    bar.setAttribute("role", "slider");
    bar.setAttribute("aria-label", "Seek");
    bar.setAttribute("aria-valuemin", "0");
    preview.hidden = true;
    preview.append(thumb, label);
    bar.append(fill, preview);
    video.after(bar);
    video.reelScrub = bar;

    let cues = [];
    fetch(url).then((r) => (r.ok ? r.text() : "")).then((text) => {
      cues = parse(text, new URL(url, location.href).href);
      bar.dataset.cues = String(cues.length);
    }).catch(() => { bar.dataset.cues = "0"; });

    const duration = () => (isFinite(video.duration) && video.duration > 0 ? video.duration
      : cues.length ? cues[cues.length - 1].end : 0);
    const timeAt = (clientX) => {
      const box = bar.getBoundingClientRect();
      return Math.max(0, Math.min(1, (clientX - box.left) / (box.width || 1))) * duration();
    };

    function sync() {
      const d = duration(), t = video.currentTime || 0;
      fill.style.width = (d ? Math.min(100, (t / d) * 100) : 0) + "%";
      bar.setAttribute("aria-valuemax", String(Math.round(d)));
      bar.setAttribute("aria-valuenow", String(Math.round(t)));
      bar.setAttribute("aria-valuetext", clock(t) + " of " + clock(d));
    }

    function show(time) {
      const cue = find(cues, time);
      label.textContent = clock(time);
      preview.hidden = false;
      preview.dataset.time = String(time);
      if (cue) {
        thumb.hidden = false;
        thumb.style.width = cue.w + "px";
        thumb.style.height = cue.h + "px";
        thumb.style.backgroundImage = 'url("' + cue.url + '")';
        thumb.style.backgroundPosition = -cue.x + "px " + -cue.y + "px";
        preview.dataset.xywh = [cue.x, cue.y, cue.w, cue.h].join(",");
      } else {
        thumb.hidden = true;
        delete preview.dataset.xywh;
      }
      // Centred over the pointer's time, kept inside the bar.
      const width = bar.clientWidth, half = (cue ? cue.w : preview.offsetWidth) / 2;
      const at = duration() ? (time / duration()) * width : 0;
      preview.style.left = Math.max(0, Math.min(width - 2 * half, at - half)) + "px";
    }

    let dragging = false;
    const seek = (time) => { if (duration()) video.currentTime = time; sync(); };
    bar.addEventListener("pointermove", (e) => {
      const t = timeAt(e.clientX);
      show(t);
      if (dragging) seek(t);
    });
    bar.addEventListener("pointerdown", (e) => {
      dragging = true;
      if (bar.setPointerCapture) bar.setPointerCapture(e.pointerId);
      const t = timeAt(e.clientX);
      show(t);
      seek(t);
    });
    const stop = () => { dragging = false; };
    bar.addEventListener("pointerup", stop);
    bar.addEventListener("pointercancel", stop);
    bar.addEventListener("pointerleave", () => { if (!dragging) preview.hidden = true; });
    bar.addEventListener("keydown", (e) => {
      const d = duration(), t = video.currentTime || 0;
      const to = { ArrowLeft: t - 5, ArrowDown: t - 5, ArrowRight: t + 5, ArrowUp: t + 5,
                   PageDown: t - d / 10, PageUp: t + d / 10, Home: 0, End: d }[e.key];
      if (to === undefined || !d) return;
      e.preventDefault();
      seek(Math.max(0, Math.min(d, to)));
      show(video.currentTime);
    });
    bar.addEventListener("blur", () => { preview.hidden = true; });
    for (const type of ["timeupdate", "durationchange", "seeked", "loadedmetadata"]) video.addEventListener(type, sync);
    sync();
    return bar;
  }

  window.ReelStoryboard = { parse, find, attach };
})();
