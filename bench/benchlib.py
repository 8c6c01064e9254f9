"""Helpers shared by the benchmarks: those that encode (bench/transcode-vs-ffmpeg, bench/time-to-playable,
...) and those that serve (bench/serve-vs-nginx, bench/serve-slow-readers, ...).

- reading a Reel profile (profiles/*.yaml) without PyYAML,
- the generated source clips (`default`: 1080p tuning clip; `holdout`: a 720p clip made from other
  generators, so the engine is not judged on what it was tuned on), cached in bench/results/cache/,
- the ffmpeg peers (Debian's /usr/bin/ffmpeg and the static one PyPI's imageio-ffmpeg ships),
- one ffmpeg command producing the same HLS ladder as Reel,
- running a child and measuring its wall time, CPU time and peak RSS with os.wait4(),
- free ports, and the processes a benchmark starts (stopped at the end, on errors, Ctrl-C and
  when the time limit runs out),
- the CPU time, memory (VmRSS) and open files of a process group (a server and its workers),
- serving: a ladder on a fresh storage root, `reel serve` and nginx on 127.0.0.1, wrk and its output.

Not a script: the benchmarks import it (`sys.path` holds bench/ when they run).
"""

import datetime
import grp
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
CACHE = RESULTS / "cache"
INSTALL_HINT = "scripts/install-deps --full"

# A run is "disturbed" when other processes used more than this share of the machine meanwhile.
DISTURBED_SHARE = 0.05

# Bump when a clip recipe changes, so a cached clip made by an older recipe is not reused.
SOURCE_RECIPE = "v1"
HOLDOUT_RECIPE = "h1"

def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The profile



def parse_bitrate(value):
    """'145k' -> 145000, '6M' -> 6000000, 128000 -> 128000."""
    text = str(value).strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmM]?)", text)
    if not match:
        raise ValueError(f"not a bitrate: {value!r}")
    number = float(match.group(1))
    scale = {"": 1, "k": 1000, "K": 1000, "m": 1000000, "M": 1000000}[match.group(2)]
    return int(round(number * scale))


def _scalar(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse_profile_minimal(text):
    """Reads the subset of YAML the profiles use (used when PyYAML is not installed):
    top-level `key: value`, one nested mapping (audio), and one list of mappings (rungs)."""
    root = {}
    current_key = None      # top-level key whose block we are in
    current_item = None     # the rung mapping being filled
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if indent == 0:
            key, _, value = body.partition(":")
            current_key, current_item = key.strip(), None
            root[current_key] = _scalar(value) if value.strip() else None
            continue
        if body.startswith("- "):
            if not isinstance(root.get(current_key), list):
                root[current_key] = []
            current_item = {}
            root[current_key].append(current_item)
            body = body[2:].strip()
        key, _, value = body.partition(":")
        if current_item is not None:
            current_item[key.strip()] = _scalar(value)
        else:
            if not isinstance(root.get(current_key), dict):
                root[current_key] = {}
            root[current_key][key.strip()] = _scalar(value)
    return root


def load_profile(name):
    path = Path(name)
    if not path.suffix:
        path = REPO / "profiles" / f"{name}.yaml"
    text = path.read_text()
    try:
        import yaml  # optional
        data = yaml.safe_load(text)
    except ImportError:
        data = parse_profile_minimal(text)
    audio = data.get("audio") or {}
    profile = {
        "path": str(path),
        "segment_duration": float(data.get("segment_duration", 6)),
        "keyframe_interval": float(data.get("keyframe_interval", 2)),
        "preset": str(data.get("preset", "veryfast")),
        "audio": {
            "bitrate": parse_bitrate(audio.get("bitrate", "128k")),
            "channels": int(audio.get("channels", 2)),
            "sample_rate": int(audio.get("sample_rate", 48000)),
        },
        "rungs": [],   # in profile order; see rung_spec()
    }
    for rung in data.get("rungs") or []:
        height = int(rung["height"])
        name = str(rung.get("name") or f"{height}p")
        bitrate = parse_bitrate(rung["bitrate"])
        peak = parse_bitrate(rung["peak"]) if rung.get("peak") is not None else int(round(bitrate * 1.3 / 1000)) * 1000
        profile["rungs"].append({
            "name": name,
            "height": height,
            "bitrate": bitrate,
            "peak": peak,
            "profile": str(rung.get("profile") or "high"),
            "level": str(rung["level"]),
            "max_fps": float(rung.get("max_fps") or 60),
        })
    return profile


def rung_spec(profile, name):
    """The profile's settings for the rung called `name`, or None."""
    return next((rung for rung in profile["rungs"] if rung["name"] == name), None)


# ---------------------------------------------------------------------------------------------
# Tools


def tool_version(binary):
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, text=True, check=False).stdout
        return out.splitlines()[0].split(" Copyright")[0] if out else "unknown"
    except OSError:
        return "missing"


def default_reel():
    """The release binary the benchmarks use unless told otherwise."""
    for candidate in (REPO / ".build-bench" / "release" / "reel", REPO / ".build" / "release" / "reel"):
        if candidate.exists():
            return candidate
    return REPO / ".build-bench" / "release" / "reel"


def command_flags(reel, *subcommand):
    """The long options `reel SUBCOMMAND --help` lists (so a benchmark passes a flag only where the
    binary has it, e.g. a worker's --poll-interval)."""
    out = subprocess.run([str(reel), *subcommand, "--help"], capture_output=True, text=True, check=False)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out.stdout + out.stderr))


def binary_replaced(path, mtime):
    """A problem sentence when the file at `path` changed since `mtime` (someone rebuilt it meanwhile)."""
    try:
        now = Path(path).stat().st_mtime
    except OSError:
        now = None
    if now == mtime:
        return None
    return (f"{path} was replaced while the benchmark ran (rebuilt by someone?): the runs may not all have "
            f"used the same binary")


def reel_built(reel):
    """'PATH (built DATE; repository HEAD now X)': the binary may be older than HEAD."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=False).stdout.strip()
    built = datetime.datetime.fromtimestamp(Path(reel).stat().st_mtime).isoformat(sep=" ", timespec="minutes")
    return f"{reel} (built {built}; repository HEAD now {head or 'unknown'})"


def ffprobe_json(path, *args):
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"ffprobe {path}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def rate_to_float(text):
    num, _, den = str(text).partition("/")
    return float(num) / float(den or 1)


def describe_source(path):
    info = ffprobe_json(path, "-show_entries",
                        "stream=codec_type,codec_name,width,height,r_frame_rate,sample_rate,channels:format=duration")
    video = next((s for s in info["streams"] if s["codec_type"] == "video"), None)
    audio = next((s for s in info["streams"] if s["codec_type"] == "audio"), None)
    if video is None:
        raise RuntimeError(f"{path} has no video stream")
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "duration": float(info["format"]["duration"]),
        "width": int(video["width"]),
        "height": int(video["height"]),
        "fps": rate_to_float(video["r_frame_rate"]),
        "fps_text": video["r_frame_rate"],
        "video_codec": video["codec_name"],
        "audio_codec": audio["codec_name"] if audio else None,
        "audio_rate": int(audio["sample_rate"]) if audio else None,
        "audio_channels": int(audio["channels"]) if audio else None,
        "frames": count_frames(path),
    }


def count_frames(path):
    """Video frames in a file or playlist, counted from packets (demux only, no decoding)."""
    info = ffprobe_json(path, "-select_streams", "v:0", "-count_packets",
                        "-show_entries", "stream=nb_read_packets")
    streams = info.get("streams") or []
    return int(streams[0]["nb_read_packets"]) if streams else 0


DEBIAN_FFMPEG = "/usr/bin/ffmpeg"


def ffmpeg_version(binary):
    """(first line of `-version` without the copyright, short label such as 'ffmpeg 9.0')."""
    line = tool_version(binary)
    match = re.search(r"version n?(\d+)\.(\d+)", line)
    if match:
        return line, f"ffmpeg {match.group(1)}.{match.group(2)}"
    if "version" in line:
        return line, "ffmpeg " + line.split("version", 1)[1].split()[0][:12]
    return line, "ffmpeg ?"


def static_ffmpeg():
    """The static ffmpeg that PyPI's imageio-ffmpeg ships (a current release, with its own libx264)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SystemExit("the Python module imageio_ffmpeg is missing; it ships the static ffmpeg this benchmark "
                         f"compares against. Install it with: {INSTALL_HINT}")
    path = imageio_ffmpeg.get_ffmpeg_exe()
    if not path or not Path(path).is_file():
        raise SystemExit(f"imageio_ffmpeg names no ffmpeg binary ({path!r}); reinstall it: {INSTALL_HINT}")
    return path


def ffmpeg_peers(paths=None):
    """The ffmpeg builds to compare with, newest version first: by default the static ffmpeg from
    imageio-ffmpeg and Debian's /usr/bin/ffmpeg. Each is {key, label, path, version}."""
    if not paths:
        paths = [static_ffmpeg(), DEBIAN_FFMPEG]
    peers = []
    for path in paths:
        resolved = shutil.which(str(path)) or (str(path) if Path(path).is_file() else None)
        if resolved is None:
            raise SystemExit(f"ffmpeg binary not found: {path}")
        line, label = ffmpeg_version(resolved)
        peers.append({"path": resolved, "version": line, "label": label})

    def version_key(peer):
        numbers = re.findall(r"\d+", peer["label"])
        return tuple(int(n) for n in numbers) if numbers else (0,)
    peers.sort(key=version_key, reverse=True)
    seen = {}
    for peer in peers:
        count = seen.get(peer["label"], 0)
        seen[peer["label"]] = count + 1
        if count:
            peer["label"] += f" #{count + 1}"
        peer["key"] = peer["label"].replace(" ", "-").replace("#", "")
    return peers


# ---------------------------------------------------------------------------------------------
# The source clips


def source_filtergraph(duration):
    """Six scenes of synthetic content with real motion and texture, cut together, plus music-like
    audio: chords, a plucked melody, a noise 'hi-hat' and a little background hiss."""
    part = duration / 6.0
    W, H, R = 1920, 1080, 30

    def scene(generator, *filters):
        chain = [generator, f"trim=duration={part:.3f}", "setpts=PTS-STARTPTS", *filters,
                 "format=yuv420p", "setsar=1"]
        return ",".join(chain)

    scenes = [
        # 1. Mandelbrot zoom with a little film grain.
        scene(f"mandelbrot=size={W}x{H}:rate={R}:start_x=-0.743643887037151:start_y=0.131825904205330"
              f":start_scale=3:end_scale=0.002:end_pts={int(part * R)}:outer=normalized_iteration_count",
              "noise=alls=4:allf=t", "gblur=sigma=0.6"),
        # 2. testsrc2 (moving, colourful) with heavy temporal noise.
        scene(f"testsrc2=size={W}x{H}:rate={R}", "noise=alls=10:allf=t", "gblur=sigma=0.8"),
        # 3. Game of life with mould, upscaled and slowly hue-shifted.
        scene(f"life=size=960x540:rate={R}:ratio=0.12:mold=8:life_color=#ffe070:death_color=#203060"
              f":mold_color=#a02010:seed=7",
              f"scale={W}:{H}:flags=bicubic", "hue=h=t*18", "noise=alls=5:allf=t", "gblur=sigma=0.6"),
        # 4. A scrolling cellular automaton multiplied over moving colour gradients.
        f"cellauto=size=960x540:rate={R}:rule=30:random_fill_ratio=0.5:seed=3,"
        f"trim=duration={part:.3f},setpts=PTS-STARTPTS,scale={W}:{H}:flags=bicubic,format=gbrp[ca];"
        f"gradients=size={W}x{H}:rate={R}:speed=0.03:nb_colors=6:seed=11,"
        f"trim=duration={part:.3f},setpts=PTS-STARTPTS,format=gbrp[gr];"
        f"[gr][ca]blend=all_mode=multiply:all_opacity=0.7,noise=alls=6:allf=t,gblur=sigma=0.6,format=yuv420p,setsar=1",
        # 5. Sierpinski carpet, which pans and jumps by itself.
        scene(f"sierpinski=size={W}x{H}:rate={R}:type=carpet:jump=40:seed=5", "noise=alls=6:allf=t", "gblur=sigma=0.6"),
        # 6. Slow colour gradients with swirling grain and a slowly rotating test pattern blended in.
        f"gradients=size={W}x{H}:rate={R}:speed=0.015:nb_colors=4:seed=21,"
        f"trim=duration={part:.3f},setpts=PTS-STARTPTS,format=gbrp[g6];"
        f"testsrc2=size={W}x{H}:rate={R},trim=duration={part:.3f},setpts=PTS-STARTPTS,"
        f"rotate=a=0.15*t:fillcolor=black,format=gbrp[t6];"
        f"[g6][t6]blend=all_mode=screen:all_opacity=0.35,noise=alls=8:allf=t+u,gblur=sigma=0.7,format=yuv420p,setsar=1",
    ]
    graph = []
    for index, chain in enumerate(scenes):
        graph.append(f"{chain}[s{index}]")
    graph.append("".join(f"[s{i}]" for i in range(len(scenes))) + f"concat=n={len(scenes)}:v=1:a=0[v]")

    # Am - F - C - G, two seconds each, as root frequencies relative to A3 (220 Hz).
    chord = "floor(mod(t/2,4))"
    root = f"220*if(eq({chord},0),1,if(eq({chord},1),0.7937,if(eq({chord},2),1.1892,0.8909)))"
    pad = (f"(0.10*sin(2*PI*{root}*t)+0.07*sin(2*PI*{root}*1.2599*t)+0.06*sin(2*PI*{root}*1.4983*t)"
           f"+0.05*sin(2*PI*{root}*0.5*t))*(0.55+0.45*exp(-1.5*mod(t,2)))")
    note = "mod(floor(t*4)*7+floor(t/2)*5,12)"
    melody = f"0.12*sin(2*PI*440*pow(2,{note}/12)*t)*exp(-7*mod(t,0.25))"
    hat = "0.08*(random(0)*2-1)*exp(-40*mod(t+0.25,0.5))"
    hiss = "0.006*(random(1)*2-1)"
    left = f"{pad}+0.9*{melody}+0.5*{hat}+{hiss}"
    right = f"{pad}+0.5*{melody}+0.9*{hat}+{hiss}"
    graph.append(f"aevalsrc=exprs='{left}|{right}':sample_rate=48000:channel_layout=stereo:duration={duration}[a]")
    return ";".join(graph)


def holdout_filtergraph(duration):
    """The hold-out clip: 1280x720, seven scenes from generators the tuning clip does not use, with
    other kinds of motion (a camera pan, zooms, scrolling, rotation, bouncing objects with trails, a
    music visualiser) and other grain; the audio is a kick drum, a walking bass, a tremolo organ and
    brown-noise 'room' instead of chords and a melody. Scene cuts come every duration/7 s (9 s for
    the 63 s clip), so half of them fall inside a 6 s segment."""
    part = duration / 7.0
    W, H, R = 1280, 720, 30
    d = f"{part:.3f}"

    def cut(chain, label):
        return f"{chain},trim=duration={d},setpts=PTS-STARTPTS,format=yuv420p,setsar=1[{label}]"

    graph = [
        # 1. A camera pan over a cloudy colour texture: one still frame, looped, seen through a moving window.
        cut(f"color=c=0x5a7890:s=64x36:r={R}:d=1,noise=c0s=100:c1s=30:c2s=30:allf=u,"
            f"scale=2560:1440:flags=bicubic,gblur=sigma=14,eq=contrast=1.5:saturation=1.3,"
            f"loop=loop=-1:size=1,setpts=N/({R}*TB),"
            f"crop={W}:{H}:x='(in_w-out_w)*t/{d}':y='(in_h-out_h)*(0.5+0.45*sin(t*0.7))',"
            f"noise=alls=7:allf=t+u", "h0"),
        # 2. The colour spectrum scrolling sideways and rocking.
        cut(f"colorspectrum=s={W}x{H}:r={R}:type=all,scroll=h=0.006:v=0.002,"
            f"rotate=a='0.12*sin(t*1.7)':c=gray,noise=alls=9:allf=t", "h1"),
        # 3. HD colour bars, zooming in and out around a drifting centre.
        cut(f"smptehdbars=s={W}x{H}:r={R},zoompan=z='1.4+0.35*sin(on/37)':x='iw/2-(iw/zoom/2)+80*sin(on/23)'"
            f":y='ih/2-(ih/zoom/2)+40*cos(on/29)':d=1:s={W}x{H}:fps={R},noise=alls=5:allf=t+u", "h2"),
        # 4. A plasma computed per pixel (at quarter size, upscaled).
        cut(f"nullsrc=s=640x360:r={R},geq=lum='128+60*sin(X/23+T*2.1)+50*sin(hypot(X-320,Y-180)/17-T*3)'"
            f":cb='128+70*sin(Y/29+T*1.3)':cr='128+70*cos(X/37-T*0.9)',scale={W}:{H}:flags=bilinear,"
            f"noise=alls=6:allf=t", "h3"),
        # 5. The classic test pattern, turning and changing hue, with heavy grain.
        cut(f"testsrc=s={W}x{H}:r={R}:decimals=2,rotate=a='0.25*t':c=0x303030,hue=H='t*0.8',"
            f"noise=alls=12:allf=t", "h4"),
    ]
    # 6. Boxes bouncing over a YUV test pattern, leaving trails.
    boxes = ",".join(
        f"drawbox=x='abs(mod(t*{vx}+{x0},2*({W}-{size}))-({W}-{size}))'"
        f":y='abs(mod(t*{vy}+{y0},2*({H}-{size}))-({H}-{size}))':w={size}:h={size}:color={colour}:t=fill"
        for vx, vy, x0, y0, size, colour in [(410, 270, 0, 90, 160, "0xe04020"), (-330, 390, 500, 300, 120, "0x20c0e0"),
                                             (520, -240, 900, 40, 90, "0xf0e030"), (260, 180, 200, 500, 200, "0x8030d0")])
    graph.append(cut(f"yuvtestsrc=s={W}x{H}:r={R},hue=h='t*40',{boxes},lagfun=decay=0.92,noise=alls=10:allf=t+u", "h5"))
    # 7. The soundtrack's own constant-Q spectrum: a music visualiser.
    graph.append(f"[av]showcqt=s={W}x{H}:r={R}:bar_g=2:sono_g=4:count=2,trim=duration={d},setpts=PTS-STARTPTS,"
                 f"format=yuv420p,setsar=1,noise=alls=4:allf=t[h6]")
    graph.append("".join(f"[h{i}]" for i in range(7)) + "concat=n=7:v=1:a=0[v]")

    # A kick drum and a walking bass at 96 bpm, a tremolo organ chord, brown noise as the room.
    beat = 60.0 / 96
    kick = f"0.5*sin(2*PI*(50*t+60*exp(-18*mod(t,{beat:.6f}))/18))*exp(-9*mod(t,{beat:.6f}))"
    step = f"floor(t/{beat:.6f})"
    bass = f"0.18*sin(2*PI*55*pow(2,(mod({step}*5,12)-mod({step}*3,7))/12)*t)*exp(-3*mod(t,{beat:.6f}))"
    organ = "0.05*(sin(2*PI*261.6*t)+sin(2*PI*329.6*t)+sin(2*PI*392*t))*(0.6+0.4*sin(2*PI*5*t))"
    graph.append(f"aevalsrc=exprs='{kick}+{bass}+0.7*{organ}|{kick}+0.7*{bass}+{organ}':sample_rate=48000"
                 f":channel_layout=stereo:duration={duration}[mus]")
    graph.append(f"anoisesrc=color=brown:amplitude=0.08:sample_rate=48000:duration={duration}:seed=9,"
                 f"aformat=channel_layouts=stereo[room]")
    graph.append("[mus][room]amix=inputs=2:duration=first:normalize=0,asplit=2[a][aw]")
    graph.append(f"[aw]atrim=start={6 * part:.3f},asetpts=PTS-STARTPTS[av]")
    return ";".join(graph)


# name -> (recipe version, default duration, size, frame rate, filtergraph, x264 crf)
CLIPS = {
    "default": (SOURCE_RECIPE, 60.0, (1920, 1080), 30, source_filtergraph, 16),
    "holdout": (HOLDOUT_RECIPE, 63.0, (1280, 720), 30, holdout_filtergraph, 17),
}


def make_clip(name="default", duration=None, directory=CACHE):
    """The generated clip `name` (see CLIPS), made once and cached in `directory`."""
    recipe, default_duration, (width, height), rate, filtergraph, crf = CLIPS[name]
    duration = float(duration or default_duration)
    if duration.is_integer():
        duration = int(duration)     # 60, not 60.0: the key of clips cached by earlier versions stays valid
    graph = filtergraph(duration)
    key = hashlib.sha256(f"{recipe}:{duration}:{graph}".encode()).hexdigest()[:10]
    prefix = "source" if name == "default" else name    # the tuning clip keeps its old cache name
    path = directory / f"{prefix}-{duration:g}s-{height}p{rate}-{key}.mp4"
    if path.exists():
        log(f"source: reusing {path}")
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    log(f"source: making the {name} clip, {duration:g} s {width}x{height} {rate} fps (once; cached as {path.name}) ...")
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-stats",
           "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
           "-c:v", "libx264", "-preset", "fast", "-crf", str(crf), "-pix_fmt", "yuv420p", "-profile:v", "high",
           "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2",
           "-t", f"{duration}", "-movflags", "+faststart", str(partial)]
    started = time.monotonic()
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise SystemExit(f"source: ffmpeg failed (exit {result.returncode}); command:\n  {' '.join(cmd)}")
    partial.rename(path)
    log(f"source: done in {time.monotonic() - started:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return path


def make_source(duration, directory=CACHE):
    """The default (tuning) clip; kept for the benchmarks that only ever used that one."""
    return make_clip("default", duration, directory)


# ---------------------------------------------------------------------------------------------
# Running and measuring one child


def group_cpu_seconds(pgid):
    """user + sys CPU seconds of the live processes in process group `pgid` (a server and its workers)."""
    total = 0
    for pid in group_pids(pgid):
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        rest = text[text.rfind(")") + 2:].split()
        total += int(rest[11]) + int(rest[12])   # fields 14, 15: utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def group_pids(pgid):
    """The live processes of process group `pgid`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(text[text.rfind(")") + 2:].split()[2]) == pgid:   # field 5: pgrp
            pids.append(int(entry))
    return pids


def group_memory(pgid):
    """(resident memory in KiB: the sum of VmRSS, open file descriptors) of process group `pgid`'s
    live processes (nginx: the master and its workers)."""
    rss = fds = 0
    for pid in group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                    break
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue        # it has just exited
    return rss, fds


def machine_busy_seconds():
    """CPU seconds the whole machine has spent busy (all CPUs, every process), from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def other_load(seconds=3.0):
    """Share of the machine's CPUs busy with other work right now (0.0 - 1.0), sampled over `seconds`."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    after = machine_busy_seconds()
    if before is None or after is None:
        return None
    return max(0.0, (after - before) / seconds / (os.cpu_count() or 1))


class Abort(Exception):
    """A reason to stop the benchmark, printed as one sentence."""


class Children:
    """The processes a benchmark starts. Each runs in its own session, so a Ctrl-C reaches only the
    benchmark, which then stops them (SIGTERM, SIGKILL after a grace period) by their own ids."""

    def __init__(self):
        self.procs = []

    def start(self, cmd, stdout=None, stderr=None, env=None, cwd=None):
        """Starts `cmd`; stdout/stderr are paths (appended to), file objects or None (discarded)."""
        def sink(target):
            if target is None:
                return subprocess.DEVNULL
            if isinstance(target, (str, Path)):
                return open(target, "ab")
            return target
        out = sink(stdout)
        err = subprocess.STDOUT if stderr is subprocess.STDOUT else sink(stderr)
        try:
            proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env, cwd=cwd, start_new_session=True)
        finally:
            for handle, target in ((out, stdout), (err, stderr)):
                if isinstance(target, (str, Path)):
                    handle.close()
        self.procs.append(proc)
        return proc

    def run(self, cmd, timeout, env=None, cwd=None):
        """Runs a short command to completion (bounded); returns (exit code, stdout, stderr)."""
        proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
        self.procs.append(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise Abort(f"`{Path(str(cmd[0])).name} {cmd[1] if len(cmd) > 1 else ''}` took longer than "
                        f"{timeout:.0f} s: stopped it")
        finally:
            if proc.poll() is not None and proc in self.procs:
                self.procs.remove(proc)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def wait_measured(self, proc):
        """Waits for `proc` with os.wait4(): (exit code, CPU s, user s, sys s, peak RSS MiB) of that child."""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc in self.procs:
            self.procs.remove(proc)
        return (proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_utime, usage.ru_stime,
                usage.ru_maxrss / 1024.0)    # ru_maxrss is in KiB on Linux

    def stop(self, proc, grace=5.0):
        """SIGTERM to the process and the group it leads, SIGKILL after `grace` seconds."""
        if proc.returncode is None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if proc.returncode is None or proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=grace)
            except (subprocess.TimeoutExpired, ChildProcessError):
                pass
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self, grace=5.0):
        """SIGTERM to every one at once, then stop() each (SIGKILL for those still running after `grace`)."""
        for proc in self.procs:
            if proc.returncode is None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in list(reversed(self.procs)):
            self.stop(proc, max(0.1, deadline - time.monotonic()))


CHILDREN = Children()


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _on_alarm(_signum, _frame):
    raise Abort("the overall time limit (--time-limit) ran out")


def guarded(name, time_limit, body):
    """Runs body() with an overall time limit; whatever happens (an error, Ctrl-C, SIGTERM, the
    limit), every process in CHILDREN is stopped before returning. Returns body()'s exit code,
    2 after an Abort and 130 after an interruption."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(max(1, int(time_limit)))
    try:
        return body()
    except Abort as error:
        log(f"{name}: {error}")
        return 2
    except KeyboardInterrupt:
        log(f"{name}: interrupted; stopping everything it started")
        return 130
    finally:
        signal.alarm(0)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)     # a second Ctrl-C must not cut the clean-up short
        CHILDREN.stop_all()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_measured(cmd, workdir, label, env=None, cwd=None):
    """Runs one child and returns its wall time, CPU time and peak RSS (from wait4 on that child),
    and how much CPU other processes used meanwhile (machine busy time minus the child's)."""
    stdout_path = workdir / f"{label}.stdout"
    stderr_path = workdir / f"{label}.stderr"
    stdout_path.unlink(missing_ok=True)
    stderr_path.unlink(missing_ok=True)
    busy_before = machine_busy_seconds()
    started = time.monotonic()
    child = CHILDREN.start(cmd, stdout=stdout_path, stderr=stderr_path, env=env, cwd=cwd)
    return finish_measured(child, started, busy_before, stdout_path, stderr_path)


def finish_measured(child, started, busy_before, stdout_path=None, stderr_path=None):
    """Waits for a child started at `started` (monotonic) and measures it like run_measured()."""
    exit_code, cpu, user, system, rss = CHILDREN.wait_measured(child)
    wall = time.monotonic() - started
    busy_after = machine_busy_seconds()
    others = None
    if busy_before is not None and busy_after is not None:
        others = max(0.0, busy_after - busy_before - cpu)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "others_cpu_s": others,
        "user_s": user,
        "sys_s": system,
        "peak_rss_mib": rss,
        "exit_code": exit_code,
        "stdout": str(stdout_path) if stdout_path else None,
        "stderr": str(stderr_path) if stderr_path else None,
    }


def disturbed_share(run):
    """The share of the machine other processes used during a measured run, or None."""
    if run.get("others_cpu_s") is None or not run.get("wall_s"):
        return None
    return run["others_cpu_s"] / (run["wall_s"] * (os.cpu_count() or 1))


def tail(path, lines=15):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# The ladder: Reel's and one ffmpeg command making the same


def reel_command(reel, source, outdir, profile_name):
    return [str(reel), "transcode", str(source), str(outdir), "--profile", profile_name, "--json"]


def reel_environment():
    env = dict(os.environ)
    env.setdefault("REEL_PROFILES_DIR", str(REPO / "profiles"))
    return env


def ladder_from_reel(result_json):
    """The rungs (name, size, frame rate) Reel planned, from its --json output."""
    data = json.loads(result_json)
    rungs = [{"name": r["name"], "width": int(r["width"]), "height": int(r["height"]),
              "fps": float(r.get("frameRate") or 0)}
             for r in data["renditions"] if r.get("kind") == "video"]
    audio = [r for r in data["renditions"] if r.get("kind") == "audio"]
    return rungs, bool(audio), data


def rung_fps(source_fps, max_fps):
    """A rung's frame rate as Reel picks it: the source's, divided by a whole number when above max_fps."""
    if not max_fps or source_fps <= max_fps + 0.01:
        return source_fps
    divisor = -(-source_fps // max_fps)
    while source_fps / divisor > max_fps + 0.01:
        divisor += 1
    return source_fps / divisor


def rungs_from_renditions(renditions, profile, source_fps):
    """Ladder rungs (name, width, height, fps) from the renditions of Reel's video JSON."""
    rungs = []
    for rendition in renditions:
        if rendition.get("kind") != "video":
            continue
        spec = rung_spec(profile, rendition["name"])
        if spec is None:
            raise SystemExit(f"reel reported rung {rendition['name']!r}, which is not in {profile['path']}")
        rungs.append({"name": rendition["name"], "width": int(rendition["width"]), "height": int(rendition["height"]),
                      "fps": rung_fps(source_fps, spec["max_fps"])})
    return rungs


def gop_frames(fps, keyframe_interval):
    """Reel's libx264 GOP cap: 2 x (frames per keyframe interval) + 1."""
    per_interval = -(-round(keyframe_interval * fps * 1000) // 1000)  # ceil, tolerant of 29.97 rounding
    return 2 * int(per_interval) + 1


def ffmpeg_command(ffmpeg, source, outdir, rungs, profile, source_fps, with_audio):
    """One ffmpeg process: decode once, split, scale each rung (bicubic), encode each with libx264
    using Reel's settings, encode audio once, write an HLS fMP4 ladder with a shared audio group."""
    interval = profile["keyframe_interval"]
    n = len(rungs)
    graph = [f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n))]
    for i, rung in enumerate(rungs):
        chain = f"[s{i}]scale={rung['width']}:{rung['height']}:flags=bicubic,format=yuv420p,setsar=1"
        if rung["fps"] and abs(rung["fps"] - source_fps) > 0.01:
            chain += f",fps={rung['fps']:.6f}"
        graph.append(chain + f"[v{i}]")
    cmd = [str(ffmpeg), "-hide_banner", "-nostdin", "-y", "-i", str(source),
           "-filter_complex", ";".join(graph)]
    for i in range(n):
        cmd += ["-map", f"[v{i}]"]
    if with_audio:
        cmd += ["-map", "0:a:0"]
    interval_text = f"{interval:g}"
    cmd += ["-c:v", "libx264", "-preset", profile["preset"], "-flags:v", "+global_header",
            "-forced-idr", "1", "-force_key_frames:v", f"expr:gte(t,n_forced*{interval_text})",
            "-x264-params", "scenecut=0:open-gop=0"]
    for i, rung in enumerate(rungs):
        spec = rung_spec(profile, rung["name"])
        fps = rung["fps"] or source_fps
        cmd += [f"-b:v:{i}", str(spec["bitrate"]), f"-maxrate:v:{i}", str(spec["peak"]),
                f"-bufsize:v:{i}", str(2 * spec["bitrate"]),
                f"-profile:v:{i}", spec["profile"], f"-level:v:{i}", spec["level"],
                f"-g:v:{i}", str(gop_frames(fps, interval))]
    stream_map = [f"v:{i},agroup:aud,name:{rung['name']}" for i, rung in enumerate(rungs)]
    if with_audio:
        audio = profile["audio"]
        cmd += ["-c:a", "aac", "-b:a", str(audio["bitrate"]), "-ar", str(audio["sample_rate"]),
                "-ac", str(audio["channels"])]
        stream_map.append("a:0,agroup:aud,name:audio")
    else:
        stream_map = [entry.replace(",agroup:aud", "") for entry in stream_map]
    cmd += ["-f", "hls", "-hls_time", f"{profile['segment_duration']:g}", "-hls_playlist_type", "vod",
            "-hls_segment_type", "fmp4", "-hls_flags", "independent_segments",
            "-hls_fmp4_init_filename", "init.mp4",
            "-hls_segment_filename", str(outdir / "%v" / "seg-%05d.m4s"),
            "-master_pl_name", "master.m3u8", "-var_stream_map", " ".join(stream_map),
            str(outdir / "%v" / "index.m3u8")]
    return cmd


def prepare_ffmpeg_outdir(outdir, rungs, with_audio):
    shutil.rmtree(outdir, ignore_errors=True)
    for name in [r["name"] for r in rungs] + (["audio"] if with_audio else []):
        (outdir / name).mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------------------------
# Serving: an HLS ladder behind `reel serve` and nginx on 127.0.0.1, measured with wrk
# (bench/serve-vs-nginx, bench/serve-slow-readers)

NGINX = "/usr/sbin/nginx"
SERVE_BUILD_HINT = "swift build -c release"
SERVE_SOURCE_RECIPE = "v1"     # bump when make_serve_source() changes, so an old cached clip is not reused


def make_serve_source(duration, directory=CACHE):
    """A 1280x720 30 fps clip with moving, noisy pictures (so segments are near the rung's bitrate)
    and a tone, made once and cached."""
    key = hashlib.sha256(f"{SERVE_SOURCE_RECIPE}:{duration}".encode()).hexdigest()[:8]
    path = directory / f"serve-source-{int(duration)}s-720p30-{key}.mp4"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    log(f"source: making a {duration:g} s 1280x720 clip (cached as {path.name}) ...")
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error",
           "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t,format=yuv420p",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-t", f"{duration}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
           "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-movflags", "+faststart", str(partial)]
    code, _, err = CHILDREN.run(cmd, timeout=600)
    if code != 0:
        partial.unlink(missing_ok=True)
        raise Abort(f"making the source failed: {err.strip()}")
    partial.rename(path)
    return path


def serve_environment():
    """Reel's environment for serving: the repository's profiles, quiet logs, and no outside
    configuration (a REEL_CONFIG file, another catalog; run the commands with cwd in a temporary
    directory so no ./reel.yaml is read either)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REEL_CONFIG", "REEL_DATABASE_URL", "REEL_DATA_DIR")}
    env.setdefault("REEL_PROFILES_DIR", str(REPO / "profiles"))
    # Like nginx's `access_log off`: no per-request log lines (set REEL_LOG_LEVEL to override).
    env.setdefault("REEL_LOG_LEVEL", "warning")
    return env


def prepare_ladder(reel, source, data, profile, timeout, cwd):
    """`reel ingest` + `reel worker --exit-when-idle` on a fresh storage root; returns the video id."""
    env = serve_environment()
    code, out, err = CHILDREN.run([reel, "ingest", source, "--data", data, "--json"], timeout=120, env=env, cwd=cwd)
    if code != 0:
        raise Abort(f"reel ingest failed (exit {code}): {err.strip()}")
    video_id = json.loads(out)[0]["id"]
    log(f"ladder: reel worker --profile {profile} on {Path(source).name} (video {video_id}) ...")
    started = time.monotonic()
    code, _, err = CHILDREN.run([reel, "worker", "--data", data, "--profile", profile, "--exit-when-idle"],
                                timeout=timeout, env=env, cwd=cwd)
    if code != 0:
        raise Abort(f"reel worker failed (exit {code}):\n{err.strip()[-2000:]}")
    code, out, err = CHILDREN.run([reel, "videos", "list", "--json", "--data", data], timeout=60, env=env, cwd=cwd)
    videos = {v["id"]: v for v in json.loads(out)} if code == 0 else {}
    state = videos.get(video_id, {}).get("state")
    if state != "ready":
        raise Abort(f"the video is {state or 'missing'} after the worker finished, not ready:\n{err.strip()[-2000:]}")
    log(f"ladder: ready in {time.monotonic() - started:.0f} s")
    return video_id


def pick_targets(video_dir):
    """The master playlist, the top rung's media playlist and that rung's largest segment."""
    master = video_dir / "master.m3u8"
    lines = master.read_text().splitlines()
    best = None   # (height, bandwidth, uri)
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            uri = next((l.strip() for l in lines[index + 1:] if l.strip() and not l.startswith("#")), None)
            height = re.search(r"RESOLUTION=\d+x(\d+)", line)
            bandwidth = re.search(r"[:,]BANDWIDTH=(\d+)", line)
            key = (int(height.group(1)) if height else 0, int(bandwidth.group(1)) if bandwidth else 0, uri)
            if uri and (best is None or key[:2] > best[:2]):
                best = key
    if best is None:
        raise Abort(f"no variant in {master}")
    playlist = (video_dir / best[2]).resolve()
    segments = sorted(playlist.parent.glob("*.m4s"), key=lambda p: p.stat().st_size)
    if not segments:
        raise Abort(f"no .m4s segment next to {playlist}")
    segment = segments[-1]
    return [
        {"name": "segment", "file": segment},
        {"name": "media playlist", "file": playlist},
        {"name": "master playlist", "file": master},
    ]


def fetch(port, path, headers=None, timeout=10):
    """One GET on 127.0.0.1:port; returns (status, headers with lower-case names, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def wait_http(port, path, proc, log_path, what, timeout=30.0):
    """Waits until the server answers anything on `path` (it is listening and handling requests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Abort(f"{what} exited with status {proc.returncode} while starting; its log ({log_path}):\n"
                        f"{tail(log_path)}")
        try:
            status, _, _ = fetch(port, path, timeout=2)
            return status
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise Abort(f"{what} did not answer on 127.0.0.1:{port} within {timeout:.0f} s; its log ({log_path}):\n"
                f"{tail(log_path)}")


def serve_flags(reel):
    """`reel serve --help`: which flags it has (spellings are checked, not assumed)."""
    try:
        code, out, err = CHILDREN.run([reel, "serve", "--help"], timeout=30)
    except OSError as error:
        raise Abort(f"cannot run {reel}: {error}")
    text = out + err
    if code != 0 or "--port" not in text:
        built = datetime.datetime.fromtimestamp(Path(reel).stat().st_mtime).isoformat(sep=" ", timespec="minutes")
        raise Abort(f"{reel} (built {built}) has no `serve` command with --port yet; rebuild it "
                    f"({SERVE_BUILD_HINT}) or pass --reel-bin PATH")
    return text


def start_reel(reel, data, port, workdir, extra=(), log_name="reel-serve.log"):
    """`reel serve` on 127.0.0.1:port (cwd `workdir`, log in it); returns {proc, port, log, command}
    once it answers /healthz."""
    help_text = serve_flags(reel)
    cmd = [reel, "serve", "--data", data, "--port", str(port)]
    for flag in ("--host", "--hostname", "--bind", "--address"):
        if re.search(rf"(?<![\w-]){re.escape(flag)}\b", help_text):
            cmd += [flag, "127.0.0.1"]
            break
    cmd += list(extra)
    log_path = workdir / log_name
    proc = CHILDREN.start(cmd, log_path, subprocess.STDOUT, env=serve_environment(), cwd=workdir)
    wait_http(port, "/healthz", proc, log_path, "reel serve")
    return {"proc": proc, "port": port, "log": log_path, "command": [str(c) for c in cmd]}


def nginx_user_line():
    """nginx started as root would run its workers as `nobody`; keep them as the current user."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};\n"


def nginx_conf(prefix, port, workers, server_block, written_by="bench/serve-vs-nginx", worker_connections=4096):
    """nginx serving static files the fast way (sendfile, tcp_nopush, no access log), everything
    (pid, logs, temp paths) under `prefix`."""
    return f"""# written by {written_by}
daemon off;
master_process on;
worker_processes {workers};
{nginx_user_line()}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp4 mp4;
        video/iso.segment m4s;
        image/jpeg jpg;
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
{server_block}
    }}
}}
"""


def start_nginx(prefix, port, workers, server_block, written_by="bench/serve-vs-nginx", worker_connections=4096):
    """nginx with its own configuration in `prefix`; returns {proc, port, log, command, conf} once it answers."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, port, workers, server_block, written_by, worker_connections))
    log_path = prefix / "stderr.log"
    # -e: the error log before the configuration is read (otherwise /var/log/nginx/error.log).
    cmd = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    code, out, err = CHILDREN.run(cmd + ["-t"], timeout=30, cwd=prefix)
    if code != 0:
        raise Abort(f"nginx rejected {conf}:\n{(out + err).strip()}")
    proc = CHILDREN.start(cmd, log_path, subprocess.STDOUT, cwd=prefix)
    wait_http(port, "/", proc, prefix / "error.log", "nginx")
    return {"proc": proc, "port": port, "log": prefix / "error.log", "command": cmd, "conf": str(conf)}


def nginx_version():
    result = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False)
    return (result.stderr or result.stdout).strip().replace("nginx version: ", "")


TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
BINARY_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4, "P": 1024 ** 5}


def wrk_seconds(number, unit):
    return float(number) * TIME_UNITS[unit]


def parse_wrk(text):
    """Figures from `wrk --latency` output, in base units (seconds, bytes, requests)."""
    out = {"requests_per_s": None, "bytes_per_s": None, "latency_p50_s": None, "latency_p90_s": None,
           "latency_p99_s": None, "latency_avg_s": None, "latency_max_s": None, "requests": None,
           "elapsed_s": None, "bytes_read": None, "socket_errors": None, "non_2xx_3xx": 0}
    match = re.search(r"^Requests/sec:\s+([\d.]+)\s*$", text, re.M)
    if match:
        out["requests_per_s"] = float(match.group(1))
    match = re.search(r"^Transfer/sec:\s+([\d.]+)([KMGTP]?)B\s*$", text, re.M)
    if match:
        out["bytes_per_s"] = float(match.group(1)) * BINARY_UNITS[match.group(2)]
    for percent, key in (("50", "latency_p50_s"), ("90", "latency_p90_s"), ("99", "latency_p99_s")):
        match = re.search(rf"^\s*{percent}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
        if match:
            out[key] = wrk_seconds(match.group(1), match.group(2))
    match = re.search(r"^\s*Latency\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)\s+([\d.]+)(us|ms|s|m|h)", text, re.M)
    if match:
        out["latency_avg_s"] = wrk_seconds(match.group(1), match.group(2))
        out["latency_max_s"] = wrk_seconds(match.group(5), match.group(6))
    match = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)([KMGTP]?)B read", text, re.M)
    if match:
        out["requests"] = int(match.group(1))
        out["elapsed_s"] = wrk_seconds(match.group(2), match.group(3))
        out["bytes_read"] = float(match.group(4)) * BINARY_UNITS[match.group(5)]
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if match:
        out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups())))
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if match:
        out["non_2xx_3xx"] = int(match.group(1))
    return out


def run_wrk(url, connections, duration):
    """`wrk -t1 -cN -dD --latency` on one URL; returns (command, output, figures from parse_wrk)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "5s", url]
    code, out, err = CHILDREN.run(cmd, timeout=duration + 30)
    if code != 0:
        raise Abort(f"wrk failed (exit {code}): {err.strip() or out.strip()}\n  {' '.join(cmd)}")
    figures = parse_wrk(out)
    if figures["requests_per_s"] is None:
        raise Abort(f"could not read wrk's output:\n{out}")
    return cmd, out, figures


# ---------------------------------------------------------------------------------------------
# Report formatting


def fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def shown_diff(diff):
    """A difference that rounds to zero prints as +0.00, never -0.00."""
    return None if diff is None else (0.0 if abs(diff) < 0.005 else diff)


def verdict(ok):
    if ok is None:
        return "n/a"
    return "MET" if ok else "MISSED"

