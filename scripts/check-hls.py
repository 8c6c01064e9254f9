#!/usr/bin/env python3
"""Check an HLS output folder the way a strict player would.

    scripts/check-hls.py OUTDIR/master.m3u8 [--require-aligned] [--quiet]

Parses the master playlist and every media and I-frame playlist it names with
the `m3u8` package in strict mode, then checks what Reel promises about its
output (RFC 8216bis and Apple's HLS authoring rules, as far as they apply to a
fragmented-MP4 VOD ladder):

  master  - starts with #EXTM3U; EXT-X-VERSION is 7; EXT-X-INDEPENDENT-SEGMENTS;
            at least one EXT-X-STREAM-INF; every variant has BANDWIDTH,
            AVERAGE-BANDWIDTH and CODECS, and a variant that carries video also
            RESOLUTION and FRAME-RATE; every AUDIO/VIDEO/SUBTITLES group that a
            variant names exists; every I-frame variant has BANDWIDTH, CODECS,
            RESOLUTION and a URI.
  media   - starts with #EXTM3U; EXT-X-VERSION is 7; EXT-X-PLAYLIST-TYPE:VOD;
            EXT-X-ENDLIST; EXT-X-TARGETDURATION; an EXT-X-MAP before every
            segment; every EXTINF > 0 and, rounded to the nearest integer,
            <= TARGETDURATION; I-frame playlists carry EXT-X-I-FRAMES-ONLY and
            ordinary ones do not.
  files   - every URI is relative, stays inside the output folder, and names a
            file that exists and is not empty (and is long enough for any
            EXT-X-BYTERANGE that points into it).

Prints a JSON summary on stdout (variants with resolution and bandwidth,
segment counts and total durations per playlist, problems, warnings). Exits 0
when there is no problem, 1 when there is any (each is also printed on stderr),
2 on a usage error. Warnings never change the exit code; --require-aligned
turns "video variants have different segment boundaries" from a warning into a
problem.
"""

import argparse
import json
import math
import os
import re
import sys
import urllib.parse

try:
    import m3u8
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write("check-hls: the 'm3u8' package is missing; run scripts/install-deps\n")
    sys.exit(2)

REQUIRED_VERSION = 7

# NAME=value pairs of an attribute list; a value may be a quoted string.
ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')

# Sample-entry prefixes of video codecs in a CODECS attribute (RFC 6381 style).
VIDEO_CODEC_PREFIXES = (
    "avc1", "avc3", "hvc1", "hev1", "dvh1", "dvhe", "vp08", "vp09", "av01", "mp4v",
)


class Checker:
    def __init__(self, master_path):
        self.master_path = os.path.abspath(master_path)
        self.root = os.path.dirname(self.master_path)
        self.problems = []
        self.warnings = []
        self.playlists = {}  # relative path -> summary dict (each parsed once)

    # -- reporting ---------------------------------------------------------

    def rel(self, path):
        return os.path.relpath(path, self.root)

    def problem(self, where, text):
        self.problems.append(f"{where}: {text}")

    def warn(self, where, text):
        self.warnings.append(f"{where}: {text}")

    # -- files and URIs ----------------------------------------------------

    def resolve(self, where, base_dir, uri, what):
        """Resolve a playlist URI to a local path, or None after a problem."""
        if uri is None or uri == "":
            self.problem(where, f"{what} has no URI")
            return None
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme or parts.netloc or uri.startswith("/"):
            self.problem(where, f"{what} URI '{uri}' is not relative")
            return None
        if parts.query or parts.fragment:
            self.warn(where, f"{what} URI '{uri}' has a query or fragment; checking the path only")
        path = os.path.normpath(os.path.join(base_dir, urllib.parse.unquote(parts.path)))
        if os.path.commonpath([path, self.root]) != self.root:
            self.problem(where, f"{what} URI '{uri}' points outside the output folder")
            return None
        return path

    def check_file(self, where, path, what, need_bytes=0):
        """The file exists, is a regular file, is not empty and is long enough."""
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            self.problem(where, f"{what} '{self.rel(path)}' does not exist")
            return False
        except OSError as error:
            self.problem(where, f"{what} '{self.rel(path)}' cannot be read: {error.strerror}")
            return False
        if not os.path.isfile(path):
            self.problem(where, f"{what} '{self.rel(path)}' is not a regular file")
            return False
        if size == 0:
            self.problem(where, f"{what} '{self.rel(path)}' is empty")
            return False
        if need_bytes > size:
            self.problem(
                where,
                f"{what} '{self.rel(path)}' has {size} bytes but its byte range needs {need_bytes}",
            )
            return False
        return True

    # -- parsing -------------------------------------------------------------

    def parse(self, path):
        """Read and parse a playlist strictly; on a strict failure report it and
        fall back to a lenient parse so that the other checks still run."""
        where = self.rel(path)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            self.problem(where, "playlist does not exist")
            return None, None
        except (OSError, UnicodeDecodeError) as error:
            self.problem(where, f"playlist cannot be read as UTF-8 text: {error}")
            return None, None
        if not text.strip():
            self.problem(where, "playlist is empty")
            return None, None
        if text.startswith("\ufeff"):
            self.problem(where, "playlist starts with a byte-order mark")
            text = text[1:]
        if text.splitlines()[0].rstrip("\r") != "#EXTM3U":
            self.problem(where, "first line is not #EXTM3U")
        base_uri = os.path.dirname(path) + os.sep
        try:
            return m3u8.M3U8(text, base_uri=base_uri, strict=True), text
        except Exception as error:  # m3u8 raises ParseError, ValueError, KeyError or a list
            self.problem(where, f"strict parse failed: {describe(error)}")
        try:
            return m3u8.M3U8(text, base_uri=base_uri, strict=False), text
        except Exception as error:
            self.problem(where, f"cannot be parsed even leniently: {describe(error)}")
            self.lint_attributes(where, text)
            return None, None

    def lint_attributes(self, where, text):
        """Say which variant line broke the parser (m3u8 only raises KeyError
        or ValueError without a line number)."""
        for lineno, line in enumerate(text.splitlines(), 1):
            for tag in ("#EXT-X-STREAM-INF:", "#EXT-X-I-FRAME-STREAM-INF:"):
                if not line.startswith(tag):
                    continue
                attributes = {}
                for match in ATTRIBUTE.finditer(line[len(tag):]):
                    attributes[match.group(1)] = match.group(2).strip('"')
                line_where = f"{where} line {lineno}"
                if not attributes.get("BANDWIDTH", "").isdigit():
                    self.problem(line_where, f"{tag[1:-1]} has no integer BANDWIDTH")
                resolution = attributes.get("RESOLUTION")
                if resolution is not None and not re.fullmatch(r"[0-9]+x[0-9]+", resolution):
                    self.problem(line_where, f"RESOLUTION '{resolution}' is not WIDTHxHEIGHT")
                rate = attributes.get("FRAME-RATE")
                if rate is not None and not re.fullmatch(r"[0-9]+(\.[0-9]+)?", rate):
                    self.problem(line_where, f"FRAME-RATE '{rate}' is not a decimal number")

    def check_version(self, where, version):
        if version is None:
            self.problem(where, f"EXT-X-VERSION is missing, expected {REQUIRED_VERSION}")
        elif version != REQUIRED_VERSION:
            self.problem(where, f"EXT-X-VERSION is {version}, expected {REQUIRED_VERSION}")

    # -- master ----------------------------------------------------------------

    def check_master(self):
        where = self.rel(self.master_path)
        master, _ = self.parse(self.master_path)
        summary = {
            "master": self.master_path,
            "version": None,
            "independent_segments": None,
            "variants": [],
            "media": [],
            "iframe_variants": [],
        }
        if master is None:
            return summary

        summary["version"] = master.version
        summary["independent_segments"] = bool(master.is_independent_segments)
        self.check_version(where, master.version)
        if not master.is_independent_segments:
            self.problem(where, "EXT-X-INDEPENDENT-SEGMENTS is missing")
        if master.segments:
            self.problem(where, "master playlist contains media segments (EXTINF)")
        if not master.is_variant or not master.playlists:
            self.problem(where, "no EXT-X-STREAM-INF: this is not a master playlist")

        groups = {}  # (TYPE, GROUP-ID) -> number of renditions
        for index, media in enumerate(master.media):
            media_where = f"{where} EXT-X-MEDIA #{index + 1}"
            if not media.type or not media.group_id or not media.name:
                self.problem(media_where, "TYPE, GROUP-ID and NAME are required")
            groups[(media.type, media.group_id)] = groups.get((media.type, media.group_id), 0) + 1
            entry = {
                "type": media.type,
                "group_id": media.group_id,
                "name": media.name,
                "language": media.language,
                "default": media.default,
                "channels": media.channels,
                "uri": media.uri,
            }
            if media.type == "CLOSED-CAPTIONS":
                if media.uri:
                    self.problem(media_where, "CLOSED-CAPTIONS must not have a URI")
            elif media.uri:
                entry.update(self.check_media_playlist(media_where, media.uri, iframes=False))
            summary["media"].append(entry)

        for index, playlist in enumerate(master.playlists):
            info = playlist.stream_info
            var_where = f"{where} EXT-X-STREAM-INF #{index + 1} ({playlist.uri})"
            codecs = info.codecs
            has_video = codecs is None or any(
                codec.strip().lower().startswith(VIDEO_CODEC_PREFIXES) for codec in codecs.split(",")
            )
            required = {
                "BANDWIDTH": info.bandwidth,
                "AVERAGE-BANDWIDTH": info.average_bandwidth,
                "CODECS": codecs,
            }
            if has_video:
                required["RESOLUTION"] = info.resolution
                required["FRAME-RATE"] = info.frame_rate
            for name, value in required.items():
                if value is None:
                    self.problem(var_where, f"{name} is missing")
            if (
                info.bandwidth is not None
                and info.average_bandwidth is not None
                and info.average_bandwidth > info.bandwidth
            ):
                self.problem(var_where, "AVERAGE-BANDWIDTH is larger than BANDWIDTH")
            for kind, group in (("AUDIO", info.audio), ("VIDEO", info.video), ("SUBTITLES", info.subtitles)):
                if group and (kind, group) not in groups:
                    self.problem(var_where, f"{kind} group '{group}' has no EXT-X-MEDIA with that GROUP-ID")
            captions = info.closed_captions
            if captions and captions != "NONE" and ("CLOSED-CAPTIONS", captions.strip('"')) not in groups:
                self.problem(var_where, f"CLOSED-CAPTIONS group '{captions}' has no EXT-X-MEDIA")
            entry = {
                "uri": playlist.uri,
                "bandwidth": info.bandwidth,
                "average_bandwidth": info.average_bandwidth,
                "resolution": "x".join(map(str, info.resolution)) if info.resolution else None,
                "frame_rate": info.frame_rate,
                "codecs": codecs,
                "audio": info.audio,
                "video": has_video,
            }
            entry.update(self.check_media_playlist(var_where, playlist.uri, iframes=False))
            summary["variants"].append(entry)

        for index, playlist in enumerate(master.iframe_playlists):
            info = playlist.iframe_stream_info
            var_where = f"{where} EXT-X-I-FRAME-STREAM-INF #{index + 1} ({playlist.uri})"
            for name, value in (
                ("BANDWIDTH", info.bandwidth),
                ("CODECS", info.codecs),
                ("RESOLUTION", info.resolution),
            ):
                if value is None:
                    self.problem(var_where, f"{name} is missing")
            entry = {
                "uri": playlist.uri,
                "bandwidth": info.bandwidth,
                "average_bandwidth": info.average_bandwidth,
                "resolution": "x".join(map(str, info.resolution)) if info.resolution else None,
                "codecs": info.codecs,
            }
            entry.update(self.check_media_playlist(var_where, playlist.uri, iframes=True))
            summary["iframe_variants"].append(entry)

        self.check_alignment(summary["variants"])
        return summary

    # -- media playlists -------------------------------------------------------

    def check_media_playlist(self, where, uri, iframes):
        path = self.resolve(where, self.root, uri, "playlist")
        if path is None:
            return {"segments": None, "duration": None}
        key = self.rel(path)
        if key not in self.playlists:
            self.playlists[key] = self.check_media_file(path, iframes)
        found = self.playlists[key]
        return {"segments": found["segments"], "duration": found["duration"]}

    def check_media_file(self, path, iframes):
        where = self.rel(path)
        summary = {
            "kind": "i-frame" if iframes else "media",
            "segments": None,
            "duration": None,
            "target_duration": None,
            "max_extinf": None,
            "segment_durations": [],
        }
        playlist, _ = self.parse(path)
        if playlist is None:
            return summary
        base_dir = os.path.dirname(path)

        if playlist.is_variant:
            self.problem(where, "is a master playlist, expected a media playlist")
            return summary
        self.check_version(where, playlist.version)
        if (playlist.playlist_type or "").upper() != "VOD":
            self.problem(where, f"EXT-X-PLAYLIST-TYPE is {playlist.playlist_type or 'missing'}, expected VOD")
        if not playlist.is_endlist:
            self.problem(where, "EXT-X-ENDLIST is missing")
        if iframes and not playlist.is_i_frames_only:
            self.problem(where, "named by EXT-X-I-FRAME-STREAM-INF but lacks EXT-X-I-FRAMES-ONLY")
        if not iframes and playlist.is_i_frames_only:
            self.problem(where, "has EXT-X-I-FRAMES-ONLY but is named by EXT-X-STREAM-INF or EXT-X-MEDIA")

        target = playlist.target_duration
        summary["target_duration"] = target
        if target is None:
            self.problem(where, "EXT-X-TARGETDURATION is missing")

        segments = list(playlist.segments)
        summary["segments"] = len(segments)
        if not segments:
            self.problem(where, "has no media segments")
            return summary

        # Where the next byte range of each file starts when it gives no offset.
        next_offset = {}
        checked_maps = set()
        total = 0.0
        longest = 0.0
        for number, segment in enumerate(segments, 1):
            seg_where = f"{where} segment {number} ({segment.uri})"
            duration = segment.duration
            summary["segment_durations"].append(duration)
            if duration is None or not duration > 0:
                self.problem(seg_where, f"EXTINF duration {duration} is not positive")
                duration = 0.0
            total += duration
            longest = max(longest, duration)
            if target is not None and math.floor(duration + 0.5) > target:
                self.problem(
                    seg_where,
                    f"EXTINF {duration:.6f} rounds to {math.floor(duration + 0.5)}, "
                    f"more than EXT-X-TARGETDURATION {target}",
                )

            init = segment.init_section
            if init is None:
                self.problem(seg_where, "no EXT-X-MAP applies to this segment")
            else:
                map_key = (init.uri, init.byterange)
                if map_key not in checked_maps:
                    checked_maps.add(map_key)
                    map_path = self.resolve(where, base_dir, init.uri, "EXT-X-MAP")
                    if map_path is not None:
                        need = 0
                        if init.byterange:
                            need = self.byte_range_end(where, init.byterange, None, None, "EXT-X-MAP")
                        self.check_file(where, map_path, "EXT-X-MAP file", need or 0)

            seg_path = self.resolve(seg_where, base_dir, segment.uri, "segment")
            if seg_path is None:
                continue
            need = 0
            if segment.byterange:
                need = self.byte_range_end(seg_where, segment.byterange, seg_path, next_offset, "EXT-X-BYTERANGE")
                if need is None:
                    continue
            self.check_file(seg_where, seg_path, "segment", need)

        summary["duration"] = round(total, 6)
        summary["max_extinf"] = longest
        if target is not None and target > max(1, math.ceil(longest)):
            self.warn(
                where,
                f"EXT-X-TARGETDURATION {target} is larger than needed (longest EXTINF {longest:.3f})",
            )
        return summary

    def byte_range_end(self, where, byterange, path, next_offset, what):
        """The end of a byte range 'length[@offset]'. A segment's range without
        an offset continues where the previous range of the same file ended
        (next_offset); an EXT-X-MAP range without one (next_offset None)
        starts at 0."""
        try:
            if "@" in byterange:
                length_text, offset_text = byterange.split("@", 1)
                length, offset = int(length_text), int(offset_text)
            elif next_offset is None:
                length, offset = int(byterange), 0
            else:
                length = int(byterange)
                if path not in next_offset:
                    self.problem(where, f"{what} '{byterange}' has no offset and follows no range of the same file")
                    return None
                offset = next_offset[path]
        except ValueError:
            self.problem(where, f"{what} '{byterange}' is not 'length[@offset]'")
            return None
        if length <= 0 or offset < 0:
            self.problem(where, f"{what} '{byterange}' is empty or negative")
            return None
        if next_offset is not None:
            next_offset[path] = offset + length
        return offset + length

    # -- across variants ---------------------------------------------------------

    def check_alignment(self, variants):
        """Every video rung must switch at the same moments: the same number of
        segments with the same durations (within a millisecond)."""
        video = [
            (variant["uri"], self.playlists.get(self.rel(os.path.join(self.root, variant["uri"] or ""))))
            for variant in variants
            if variant.get("video")
        ]
        video = [(uri, found) for uri, found in video if found and found["segment_durations"]]
        if len(video) < 2:
            return
        first_uri, first = video[0]
        for uri, other in video[1:]:
            a, b = first["segment_durations"], other["segment_durations"]
            differ = [
                number
                for number, (x, y) in enumerate(zip(a, b), 1)
                if abs((x or 0) - (y or 0)) > 0.001
            ]
            if len(a) != len(b) or differ:
                if differ:
                    number = differ[0]
                    detail = f"segment {number} lasts {b[number - 1]} s here, {a[number - 1]} s there"
                else:
                    detail = f"{len(b)} segments here, {len(a)} there"
                text = (
                    f"segment boundaries differ from {first_uri} ({detail}); "
                    "players cannot switch rungs cleanly"
                )
                if self.require_aligned:
                    self.problem(uri, text)
                else:
                    self.warn(uri, text)

    require_aligned = False


def describe(error):
    """One line for a parse error; m3u8's strict version check raises an
    Exception whose argument is a list of VersionMatchingError (0-based lines)."""
    if error.args and isinstance(error.args[0], list):
        parts = []
        for item in error.args[0]:
            if hasattr(item, "line_number") and hasattr(item, "description"):
                parts.append(f"line {item.line_number + 1}: {item.description} ({item.line.strip()})")
            else:
                parts.append(" ".join(str(item).split()))
        return "; ".join(parts)
    if isinstance(error, KeyError):
        return f"a required attribute is missing ({str(error.args[0]).upper().replace('_', '-')})"
    return " ".join(str(error).split()) or type(error).__name__


def main(argv):
    parser = argparse.ArgumentParser(
        prog="check-hls.py",
        description="Strictly check an HLS master playlist and everything it names.",
    )
    parser.add_argument("master", help="path to OUTDIR/master.m3u8")
    parser.add_argument(
        "--require-aligned",
        action="store_true",
        help="fail when video variants have different segment boundaries",
    )
    parser.add_argument("--quiet", action="store_true", help="print no JSON, only problems")
    args = parser.parse_args(argv)

    if not os.path.isfile(args.master):
        sys.stderr.write(f"check-hls: {args.master}: no such file\n")
        return 2

    checker = Checker(args.master)
    checker.require_aligned = args.require_aligned
    summary = checker.check_master()
    summary["playlists"] = {
        path: {key: value for key, value in found.items() if key != "segment_durations"}
        for path, found in sorted(checker.playlists.items())
    }
    summary["ok"] = not checker.problems
    summary["problems"] = checker.problems
    summary["warnings"] = checker.warnings
    if not args.quiet:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    for text in checker.problems:
        sys.stderr.write(f"problem: {text}\n")
    if checker.problems:
        sys.stderr.write(f"check-hls: {len(checker.problems)} problem(s)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
