#!/usr/bin/env bash
# Fixtures/generate.sh — make the small media files that Reel's tests read.
#
# Every file is synthesised from lavfi sources with the Debian `ffmpeg` CLI
# (FFmpeg 5.1), so nothing is downloaded and nothing is copyrighted.
# See Fixtures/README.md for what each file exercises.
#
# Usage:
#   Fixtures/generate.sh            make the fixtures unless they are up to date
#   Fixtures/generate.sh --force    make them again even if they are up to date
#   Fixtures/generate.sh --check    only verify the existing files, make nothing
#
# Idempotent: a stamp (.generate.stamp) records the hash of this script and the
# ffmpeg version; when it matches and every file is present the script only
# re-verifies. New files are made in a temporary folder, verified with ffprobe,
# and only then renamed into place, so a failed run never leaves half a set.
# Deterministic: bitexact muxing, fixed encoder thread counts, no timestamps; with the
# same ffmpeg build the output is byte-identical from run to run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp_file="$here/.generate.stamp"

FILES=(
    landscape.mp4 phone-rotated.mp4 odd-size.mp4 interlaced.ts hevc-10bit.mp4
    vfr.mkv prores-422.mov vp9.webm audio-only.m4a video-only.mp4
    truncated.mp4 truncated-tail.mp4 empty.mp4 not-a-video.mp4 subtitles-only.mkv
)

mode=generate
for arg in "$@"; do
    case "$arg" in
        --force) mode=force ;;
        --check) mode=check ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "generate.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

for tool in ffmpeg ffprobe sha256sum awk; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "generate.sh: '$tool' not found; run scripts/install-deps first" >&2
        exit 1
    }
done

ffmpeg_version="$(ffmpeg -hide_banner -version | head -n 1)"
case "$ffmpeg_version" in
    "ffmpeg version 5.1"*) ;;
    *) echo "generate.sh: warning: expected FFmpeg 5.1, found: $ffmpeg_version" >&2 ;;
esac
want_stamp="$( { sha256sum < "${BASH_SOURCE[0]}"; echo "$ffmpeg_version"; } | sha256sum | cut -d' ' -f1)"

# ---------------------------------------------------------------------------
# helpers

ff() { ffmpeg -hide_banner -nostdin -loglevel error -y "$@"; }

# Options that keep the output free of version strings and timestamps. Video
# encoders get `-flags:v +bitexact` on their own line (as VBITEXACT), because a
# second -flags:v would replace the first rather than add to it.
BITEXACT=(-fflags +bitexact -flags:a +bitexact -map_metadata -1)
VBITEXACT=(-flags:v +bitexact)

# x264 with a fixed thread count: its output does not depend on the core count.
X264=(-c:v libx264 -threads 2 -preset medium "${VBITEXACT[@]}")

# A stereo test signal: a steady tone on each side (left 440 Hz, right 660 Hz)
# and a 1 kHz beep on both for the first 50 ms of every second, so that audio
# and the frame counter of testsrc2 can be lined up by eye or by ear.
stereo_tones() { # rate seconds
    echo "aevalsrc=exprs='0.2*sin(2*PI*440*t)+0.4*lt(mod(t,1),0.05)*sin(2*PI*1000*t)|0.2*sin(2*PI*660*t)+0.4*lt(mod(t,1),0.05)*sin(2*PI*1000*t)':s=$1:d=$2"
}

# ---------------------------------------------------------------------------
# generators; each writes "$1/<name>"

make_landscape() { # the ordinary upload: 720p30 H.264 High + AAC-LC stereo, moov first
    ff -f lavfi -i "testsrc2=s=1280x720:r=30:d=6" -f lavfi -i "$(stereo_tones 48000 6)" \
        "${X264[@]}" -profile:v high -pix_fmt yuv420p -crf 34 -g 60 \
        -c:a aac -b:a 96k -ar 48000 -ac 2 \
        -movflags +faststart "${BITEXACT[@]}" "$1/landscape.mp4"
}

make_phone_rotated() { # portrait phone clip: stored 640x360, display matrix says rotate
    # Draw an upright 360x640 picture, turn it 90° counter-clockwise for storage
    # (as a phone sensor records it), and tag it like a phone does. Only a
    # player that honours the display matrix shows the text upright.
    ff -f lavfi -i "testsrc2=s=360x640:r=30:d=4,transpose=cclock" \
        -f lavfi -i "sine=f=523:sample_rate=44100:d=4" \
        "${X264[@]}" -profile:v high -pix_fmt yuv420p -crf 33 -g 30 \
        -c:a aac -b:a 64k -ar 44100 -ac 1 \
        "${BITEXACT[@]}" "$1/.phone-unrotated.mp4"
    # FFmpeg 5.1 turns `rotate` metadata into a display matrix only when the
    # stream is copied, so tag it in a second, lossless pass. rotate=-90 gives
    # the matrix an iPhone writes for portrait (ffprobe: rotation=-90).
    ff -i "$1/.phone-unrotated.mp4" -map 0 -c copy -metadata:s:v:0 rotate=-90 \
        -movflags +faststart "${BITEXACT[@]}" "$1/phone-rotated.mp4"
    rm -f "$1/.phone-unrotated.mp4"
}

make_odd_size() { # odd width and height: only possible without chroma subsampling
    # testsrc2 would round 4:2:0 sizes down to even, so ask it for 4:4:4.
    ff -f lavfi -i "mandelbrot=s=333x187:r=25:end_pts=400,trim=duration=3,format=yuv444p" \
        -f lavfi -i "$(stereo_tones 48000 3)" \
        "${X264[@]}" -profile:v high444 -pix_fmt yuv444p -crf 30 -g 50 \
        -c:a aac -b:a 64k -ar 48000 -ac 2 \
        -movflags +faststart "${BITEXACT[@]}" "$1/odd-size.mp4"
}

make_interlaced() { # PAL broadcast: MPEG-2 576i25, top field first, 16:9 anamorphic, MP2
    # 50 progressive frames a second are woven into 25 interlaced frames, so
    # the two fields of each frame really show different moments (combing).
    ff -f lavfi -i "testsrc2=s=720x576:r=50:d=4,interlace=scan=tff:lowpass=off,setsar=64/45" \
        -f lavfi -i "$(stereo_tones 48000 4)" \
        -c:v mpeg2video -pix_fmt yuv420p -flags:v +bitexact+ilme+ildct -top 1 \
        -q:v 20 -g 12 -bf 2 \
        -c:a mp2 -b:a 128k -ar 48000 -ac 2 \
        "${BITEXACT[@]}" "$1/interlaced.ts"
}

make_hevc_10bit() { # HEVC Main 10 in hvc1 with 5.1 AAC (to exercise the downmix)
    # One tone per channel: FL 300, FR 400, FC 500, LFE 60, BL 700, BR 800 Hz.
    ff -f lavfi -i "testsrc2=s=640x360:r=24:d=3" \
        -f lavfi -i "aevalsrc=exprs='0.2*sin(2*PI*300*t)|0.2*sin(2*PI*400*t)|0.2*sin(2*PI*500*t)|0.2*sin(2*PI*60*t)|0.2*sin(2*PI*700*t)|0.2*sin(2*PI*800*t)':c=5.1:s=48000:d=3" \
        -c:v libx265 "${VBITEXACT[@]}" -pix_fmt yuv420p10le -profile:v main10 -crf 32 -tag:v hvc1 \
        -x265-params "log-level=error:pools=2:frame-threads=1:keyint=48:min-keyint=48" \
        -c:a aac -b:a 192k -ar 48000 -ac 6 \
        -movflags +faststart "${BITEXACT[@]}" "$1/hevc-10bit.mp4"
}

make_vfr() { # variable frame rate, as screen recorders and phones produce
    # From a 60 fps source keep frames so that the gaps alternate 33 ms / 50 ms
    # for two seconds, then 67 ms (15 fps) for the rest. `-r 1000` only sets the
    # time base to 1 ms: with -fps_mode vfr no frame is dropped or duplicated,
    # and Matroska gets no DefaultDuration, so nothing claims a constant rate.
    ff -f lavfi -i "testsrc2=s=640x360:r=60:d=4,select='if(lt(t,2),eq(mod(n,5),0)+eq(mod(n,5),2),not(mod(n,4)))'" \
        -f lavfi -i "$(stereo_tones 48000 4)" \
        "${X264[@]}" -profile:v high -pix_fmt yuv420p -crf 30 \
        -fps_mode vfr -r 1000 \
        -c:a aac -b:a 64k -ar 48000 -ac 2 \
        "${BITEXACT[@]}" "$1/vfr.mkv"
}

make_prores() { # an editing-suite master: ProRes 422 (Standard) 10-bit + PCM
    # bits_per_mb is lowered from the profile's default to keep the file small.
    ff -f lavfi -i "testsrc=s=320x180:r=25:d=2" \
        -f lavfi -i "$(stereo_tones 48000 2)" \
        -c:v prores_ks "${VBITEXACT[@]}" -profile:v 2 -vendor apl0 -bits_per_mb 150 -pix_fmt yuv422p10le \
        -c:a pcm_s16le -ar 48000 -ac 2 \
        "${BITEXACT[@]}" "$1/prores-422.mov"
}

make_vp9() { # a browser recording: VP9 + Opus in WebM
    ff -f lavfi -i "testsrc2=s=320x180:r=30:d=2" \
        -f lavfi -i "$(stereo_tones 48000 2)" \
        -c:v libvpx-vp9 "${VBITEXACT[@]}" -threads 1 -row-mt 0 -deadline good -cpu-used 4 -b:v 300k -g 60 \
        -pix_fmt yuv420p \
        -c:a libopus -b:a 64k -ar 48000 -ac 2 \
        "${BITEXACT[@]}" "$1/vp9.webm"
}

make_audio_only() { # a podcast episode: no video stream at all
    ff -f lavfi -i "$(stereo_tones 48000 5)" \
        -c:a aac -b:a 96k -ar 48000 -ac 2 \
        -movflags +faststart "${BITEXACT[@]}" "$1/audio-only.m4a"
}

make_video_only() { # a silent clip: no audio stream at all
    ff -f lavfi -i "testsrc2=s=640x360:r=25:d=4" \
        "${X264[@]}" -profile:v high -pix_fmt yuv420p -crf 33 -g 50 -an \
        -movflags +faststart "${BITEXACT[@]}" "$1/video-only.mp4"
}

make_truncated() { # an upload cut off early, from a file whose index (moov) is at the end
    # Remux landscape.mp4 without +faststart: ftyp, mdat, then moov last.
    ff -i "$1/landscape.mp4" -map 0 -c copy "${BITEXACT[@]}" "$1/.landscape-moov-last.mp4"
    local size
    size="$(stat -c %s "$1/.landscape-moov-last.mp4")"
    head -c "$(( size * 40 / 100 ))" "$1/.landscape-moov-last.mp4" > "$1/truncated.mp4"
    rm -f "$1/.landscape-moov-last.mp4"
}

make_truncated_tail() { # header intact, media data missing after 60 %
    local size
    size="$(stat -c %s "$1/landscape.mp4")"
    head -c "$(( size * 60 / 100 ))" "$1/landscape.mp4" > "$1/truncated-tail.mp4"
}

make_empty() {
    : > "$1/empty.mp4"
}

make_not_a_video() { # text with a video's name
    {
        cat <<'EOF'
This file is not a video.

It is plain text that carries the name not-a-video.mp4, the way a mislabelled
upload does: somebody picked the wrong file, or a browser saved an error page
under the name of the download. Reel must look at the bytes, not at the name.
Probing this file has to fail cleanly, and the upload has to end as a failed
job whose reason a person can read, for example "not a media file (FFmpeg:
Invalid data found when processing input)", without crashing a worker and
without being retried over and over.

The rest of this file is filler, so that it is a few kilobytes long, like a
small real upload, and a probe that reads only the first bytes cannot succeed
by luck.

EOF
        local i
        for i in $(seq 1 24); do
            printf 'Line %02d: still not a video, still plain text, still no ftyp box here.\n' "$i"
        done
    } > "$1/not-a-video.mp4"
}

make_subtitles_only() { # a valid container without any audio or video stream
    cat > "$1/.subtitles-only.srt" <<'EOF'
1
00:00:00,000 --> 00:00:02,000
This Matroska file holds subtitles only.

2
00:00:02,000 --> 00:00:04,000
There is no audio or video stream to transcode.
EOF
    ff -i "$1/.subtitles-only.srt" -map 0 -c:s srt "${BITEXACT[@]}" "$1/subtitles-only.mkv"
    rm -f "$1/.subtitles-only.srt"
}

# ---------------------------------------------------------------------------
# verification; each check prints one line and records failures

failures=0
fail() { echo "  FAIL $*" >&2; failures=$((failures + 1)); }

declare -A S  # key=value facts of one stream (or of the format)

load() { # file selector(v:0|a:0|s:0) -> S
    S=()
    local key value
    while IFS='=' read -r key value; do
        [[ -n "$key" ]] && S["$key"]="$value"
    done < <(ffprobe -v error -select_streams "$2" \
        -show_entries "stream=codec_name,codec_tag_string,profile,width,height,pix_fmt,field_order,sample_aspect_ratio,r_frame_rate,avg_frame_rate,sample_rate,channels,channel_layout:stream_side_data=rotation" \
        -of default=nw=1 "$1" 2>/dev/null || true)
}

expect() { # file key wanted
    local got="${S[$2]-<none>}"
    [[ "$got" == "$3" ]] || fail "$(basename "$1"): $2 is '$got', expected '$3'"
}

stream_count() { # file selector -> number of matching streams
    ffprobe -v error -select_streams "$2" -show_entries stream=index -of csv=p=0 "$1" 2>/dev/null | grep -c . || true
}

duration_near() { # file seconds tolerance
    local d
    d="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$1" 2>/dev/null || true)"
    awk -v d="$d" -v want="$2" -v tol="$3" 'BEGIN { exit !(d != "" && d+0 >= want-tol && d+0 <= want+tol) }' ||
        fail "$(basename "$1"): duration is '${d:-?}', expected ${2}±${3} s"
}

moov_before_mdat() { # file: the index comes first (+faststart)
    local moov mdat
    moov="$(LC_ALL=C grep -obUa -m1 moov "$1" | head -n1 | cut -d: -f1 || true)"
    mdat="$(LC_ALL=C grep -obUa -m1 mdat "$1" | head -n1 | cut -d: -f1 || true)"
    [[ -n "$moov" && -n "$mdat" && "$moov" -lt "$mdat" ]] ||
        fail "$(basename "$1"): moov (${moov:-none}) is not before mdat (${mdat:-none}); not faststart"
}

probe_fails() { # file: ffprobe must refuse it
    if ffprobe -v error -show_entries format=format_name "$1" >/dev/null 2>&1; then
        fail "$(basename "$1"): ffprobe accepted it, expected a probe failure"
    fi
}

verify() { # dir
    local d="$1" f
    failures=0
    for f in "${FILES[@]}"; do
        [[ -e "$d/$f" ]] || fail "$f: missing"
    done
    (( failures == 0 )) || return 1

    f="$d/landscape.mp4"
    load "$f" v:0
    expect "$f" codec_name h264; expect "$f" profile High; expect "$f" pix_fmt yuv420p
    expect "$f" width 1280; expect "$f" height 720; expect "$f" r_frame_rate 30/1
    load "$f" a:0
    expect "$f" codec_name aac; expect "$f" profile LC; expect "$f" sample_rate 48000
    expect "$f" channels 2; expect "$f" channel_layout stereo
    duration_near "$f" 6 0.1; moov_before_mdat "$f"

    f="$d/phone-rotated.mp4"
    load "$f" v:0
    expect "$f" codec_name h264; expect "$f" width 640; expect "$f" height 360
    expect "$f" rotation -90; expect "$f" r_frame_rate 30/1
    load "$f" a:0
    expect "$f" codec_name aac; expect "$f" sample_rate 44100; expect "$f" channels 1
    expect "$f" channel_layout mono
    duration_near "$f" 4 0.1

    f="$d/odd-size.mp4"
    load "$f" v:0
    expect "$f" codec_name h264; expect "$f" profile "High 4:4:4 Predictive"
    expect "$f" pix_fmt yuv444p; expect "$f" width 333; expect "$f" height 187
    expect "$f" r_frame_rate 25/1
    load "$f" a:0
    expect "$f" codec_name aac; expect "$f" channels 2
    duration_near "$f" 3 0.1

    f="$d/interlaced.ts"
    load "$f" v:0
    expect "$f" codec_name mpeg2video; expect "$f" width 720; expect "$f" height 576
    expect "$f" pix_fmt yuv420p; expect "$f" field_order tt; expect "$f" r_frame_rate 25/1
    expect "$f" sample_aspect_ratio 64:45
    load "$f" a:0
    expect "$f" codec_name mp2; expect "$f" channels 2; expect "$f" sample_rate 48000
    duration_near "$f" 4 0.2

    f="$d/hevc-10bit.mp4"
    load "$f" v:0
    expect "$f" codec_name hevc; expect "$f" profile "Main 10"; expect "$f" pix_fmt yuv420p10le
    expect "$f" codec_tag_string hvc1; expect "$f" width 640; expect "$f" height 360
    expect "$f" r_frame_rate 24/1
    load "$f" a:0
    expect "$f" codec_name aac; expect "$f" channels 6; expect "$f" channel_layout 5.1
    duration_near "$f" 3 0.1

    f="$d/vfr.mkv"
    load "$f" v:0
    expect "$f" codec_name h264; expect "$f" width 640; expect "$f" height 360
    [[ "${S[r_frame_rate]-}" != "${S[avg_frame_rate]-}" ]] ||
        fail "vfr.mkv: r_frame_rate equals avg_frame_rate (${S[r_frame_rate]-?}); not variable"
    local gaps
    gaps="$(ffprobe -v error -select_streams v:0 -show_entries packet=pts_time -of csv=p=0 "$f" 2>/dev/null |
        sort -n | awk 'NR > 1 { printf "%d\n", ($1 - p) * 1000 + 0.5 } { p = $1 }' | sort -un | tr '\n' ' ' || true)"
    [[ "$gaps" == "33 34 50 66 67 " ]] || fail "vfr.mkv: frame gaps (ms) are '$gaps', expected '33 34 50 66 67 '"
    load "$f" a:0
    expect "$f" codec_name aac
    duration_near "$f" 4 0.1

    f="$d/prores-422.mov"
    load "$f" v:0
    expect "$f" codec_name prores; expect "$f" profile Standard; expect "$f" pix_fmt yuv422p10le
    expect "$f" width 320; expect "$f" height 180; expect "$f" r_frame_rate 25/1
    load "$f" a:0
    expect "$f" codec_name pcm_s16le; expect "$f" channels 2
    duration_near "$f" 2 0.1

    f="$d/vp9.webm"
    load "$f" v:0
    expect "$f" codec_name vp9; expect "$f" width 320; expect "$f" height 180
    expect "$f" r_frame_rate 30/1
    load "$f" a:0
    expect "$f" codec_name opus; expect "$f" channels 2
    duration_near "$f" 2 0.1

    f="$d/audio-only.m4a"
    [[ "$(stream_count "$f" v)" == 0 ]] || fail "audio-only.m4a: has a video stream"
    load "$f" a:0
    expect "$f" codec_name aac; expect "$f" profile LC; expect "$f" sample_rate 48000
    expect "$f" channels 2
    duration_near "$f" 5 0.1

    f="$d/video-only.mp4"
    [[ "$(stream_count "$f" a)" == 0 ]] || fail "video-only.mp4: has an audio stream"
    load "$f" v:0
    expect "$f" codec_name h264; expect "$f" width 640; expect "$f" height 360
    expect "$f" r_frame_rate 25/1
    duration_near "$f" 4 0.1

    probe_fails "$d/truncated.mp4"
    LC_ALL=C grep -qa moov "$d/truncated.mp4" && fail "truncated.mp4: still contains a moov box"

    f="$d/truncated-tail.mp4"
    load "$f" v:0
    expect "$f" codec_name h264; expect "$f" width 1280
    duration_near "$f" 6 0.1   # the header still promises all six seconds

    [[ ! -s "$d/empty.mp4" ]] || fail "empty.mp4: is not empty"
    probe_fails "$d/empty.mp4"
    probe_fails "$d/not-a-video.mp4"

    f="$d/subtitles-only.mkv"
    [[ "$(stream_count "$f" v)" == 0 && "$(stream_count "$f" a)" == 0 ]] ||
        fail "subtitles-only.mkv: has an audio or video stream"
    load "$f" s:0
    expect "$f" codec_name subrip

    (( failures == 0 ))
}

# ---------------------------------------------------------------------------
# main

all_present() {
    local f
    for f in "${FILES[@]}"; do [[ -e "$here/$f" ]] || return 1; done
}

if [[ "$mode" == check ]]; then
    echo "verifying fixtures in $here"
    if verify "$here"; then echo "all ${#FILES[@]} fixtures verified"; exit 0; fi
    echo "generate.sh: $failures check(s) failed; run Fixtures/generate.sh --force" >&2
    exit 1
fi

if [[ "$mode" == generate && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want_stamp" ]] && all_present; then
    echo "fixtures up to date (stamp matches); verifying"
    if verify "$here"; then echo "all ${#FILES[@]} fixtures verified"; exit 0; fi
    echo "fixtures fail verification; making them again" >&2
fi

work="$(mktemp -d "$here/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step() { # name function
    local t0=$SECONDS
    printf '  %-20s' "$1"
    "$2" "$work"
    printf '%4ds  %8s bytes\n' "$((SECONDS - t0))" "$(stat -c %s "$work/$1")"
}

echo "making fixtures in $here (ffmpeg: ${ffmpeg_version#ffmpeg version })"
step landscape.mp4      make_landscape
step phone-rotated.mp4  make_phone_rotated
step odd-size.mp4       make_odd_size
step interlaced.ts      make_interlaced
step hevc-10bit.mp4     make_hevc_10bit
step vfr.mkv            make_vfr
step prores-422.mov     make_prores
step vp9.webm           make_vp9
step audio-only.m4a     make_audio_only
step video-only.mp4     make_video_only
step truncated.mp4      make_truncated
step truncated-tail.mp4 make_truncated_tail
step empty.mp4          make_empty
step not-a-video.mp4    make_not_a_video
step subtitles-only.mkv make_subtitles_only

echo "verifying"
if ! verify "$work"; then
    echo "generate.sh: $failures check(s) failed; the existing fixtures were left as they were" >&2
    exit 1
fi

for f in "${FILES[@]}"; do
    mv -f "$work/$f" "$here/$f"
done
echo "$want_stamp" > "$stamp_file.tmp" && mv -f "$stamp_file.tmp" "$stamp_file"
echo "all ${#FILES[@]} fixtures made and verified; $(du -ch "${FILES[@]/#/$here/}" | tail -n1 | cut -f1) in all"
