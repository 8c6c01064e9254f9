"""The streaming fast path (Sources/Server/Streaming/StreamingFastPath.swift) answers hot playlist and segment
GETs on the connection's event loop, before Hummingbird's router, once the video's status and the file are
cached. It must answer exactly as the router does, keep answers in order under pipelining, and hold at most
one answer for a client that pipelines and never reads.

Which path answered is read from `reel_http_fast_answers_total` on /metrics. A percent-escaped path (`%6D`
for `m`) always goes to the router (the fast path leaves escapes to it), which decodes it to the same file:
that is the reference every fast answer is compared with.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest

from reel_http_support import PROFILES_DIR, fast_answer_count, free_port, raw_request, router_only, start_and_wait

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


def fast_answers(reel) -> int:
    r = reel.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    return fast_answer_count(r.text)


def comparable(response) -> dict:
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return {"status": response.status, "headers": headers, "body": hashlib.sha256(response.body).hexdigest()}


def answer_twice(reel, method: str, path: str, headers: dict[str, str]):
    """(router's answer, fast answer) of one request; retried when the fast path was not taken (a cache entry
    can expire between the two on a loaded machine), and failing if it never is."""
    for _ in range(3):
        reference = raw_request(reel.port, method, router_only(path), headers)
        before = fast_answers(reel)
        fast = raw_request(reel.port, method, path, headers)
        if fast_answers(reel) == before + 1:
            return reference, fast
    raise AssertionError(f"{method} {path} {headers} was never answered on the fast path")


@pytest.fixture(scope="module")
def ladder(reel, landscape) -> dict:
    vid = landscape["id"]
    root = reel.data / "hls" / vid
    master = (root / "master.m3u8").read_text()
    rung = next(line for line in master.splitlines() if line.endswith(".m3u8") and not line.startswith("#"))
    rung_dir = rung.rsplit("/", 1)[0]
    segments = sorted((root / rung_dir).glob("*.m4s"), key=lambda p: p.stat().st_size)
    assert segments, f"no segments under {root / rung_dir}"
    return {"id": vid, "root": root, "master": f"/hls/{vid}/master.m3u8", "media": f"/hls/{vid}/{rung}",
            "init": f"/hls/{vid}/{rung_dir}/init.mp4", "segment": f"/hls/{vid}/{rung_dir}/{segments[-1].name}",
            "segment_file": segments[-1]}


def test_fast_answers_are_the_routers(reel, ladder):
    segment_etag = raw_request(reel.port, "GET", ladder["segment"]).headers["etag"]
    media = raw_request(reel.port, "GET", ladder["media"])
    cases = [
        ("GET", ladder["master"], {}),
        ("GET", ladder["master"], {"User-Agent": IPHONE}),
        ("GET", ladder["master"], {"User-Agent": IPHONE, "Accept-Encoding": "gzip"}),
        ("GET", ladder["master"], {"Save-Data": "on", "Sec-CH-UA-Mobile": "?1"}),
        ("GET", ladder["media"], {}),
        ("GET", ladder["media"], {"Accept-Encoding": "gzip, deflate"}),
        ("GET", ladder["media"], {"If-None-Match": media.headers["etag"]}),
        ("GET", ladder["media"], {"If-Modified-Since": media.headers["last-modified"]}),
        ("HEAD", ladder["media"], {}),
        ("GET", ladder["init"], {}),
        ("GET", ladder["segment"], {}),
        ("HEAD", ladder["segment"], {}),
        ("GET", ladder["segment"], {"Range": "bytes=100-1099"}),
        ("GET", ladder["segment"], {"Range": "bytes=-500"}),
        ("GET", ladder["segment"], {"Range": "bytes=0-9,200-299"}),
        ("GET", ladder["segment"], {"Range": "bytes=0-9", "If-Range": '"stale"'}),
        ("GET", ladder["segment"], {"Range": "bytes=0-9", "If-Range": segment_etag}),
        ("GET", ladder["segment"], {"If-None-Match": f'"other", {segment_etag}'}),
    ]
    for method, path, headers in cases:
        reference, fast = answer_twice(reel, method, path, headers)
        assert reference.status in (200, 206, 304), f"{method} {path} {headers}: {reference.status}"
        assert comparable(fast) == comparable(reference), f"{method} {path} {headers}"
        # Again: a playlist's whole answer is now remembered, and must still be the same.
        again = raw_request(reel.port, method, path, headers)
        assert comparable(again) == comparable(reference), f"{method} {path} {headers}, asked again"
    # The body itself, not only its hash against the router's.
    _, fast = answer_twice(reel, "GET", ladder["segment"], {})
    assert fast.body == ladder["segment_file"].read_bytes()


def test_errors_are_left_to_the_router(reel, ladder, private_video):
    """A range past the end, a private video without a signature, an expired signature, a missing file:
    the router's problems, never a fast answer."""
    raw_request(reel.port, "GET", ladder["segment"])  # status and file cached
    before = fast_answers(reel)
    assert raw_request(reel.port, "GET", ladder["segment"], {"Range": "bytes=99999999-"}).status == 416
    private = f"/hls/{private_video['id']}/master.m3u8"
    for _ in range(2):
        assert raw_request(reel.port, "GET", private).status == 404
    expired = reel.signed_path(private_video["id"], int(time.time()) - 10)
    for _ in range(2):
        assert raw_request(reel.port, "GET", expired).status == 403
    assert raw_request(reel.port, "GET", ladder["master"].replace("master.m3u8", "nothing.m3u8")).status == 404
    raw_request(reel.port, "GET", ladder["master"] + "/")  # the router's trailing-slash rules, not the fast path's
    assert fast_answers(reel) == before


def test_signed_private_video_on_the_fast_path(reel, private_video):
    path = reel.signed_path(private_video["id"], int(time.time()) + 600)
    reference, fast = answer_twice(reel, "GET", path, {})
    assert reference.status == 200
    assert comparable(fast) == comparable(reference)
    assert fast.headers["cache-control"].startswith("private")


def test_a_replaced_playlist_is_served_at_once(reel, ladder):
    """Publishing renames a new file into place: the next answer is the new one, fast path or not."""
    disk = ladder["root"] / ladder["media"].split(ladder["id"] + "/", 1)[1]
    original = disk.read_bytes()
    for _ in range(3):
        assert raw_request(reel.port, "GET", ladder["media"]).body == original
    changed = original + b"## replaced\n"
    try:
        staged = disk.with_name(".staged")
        staged.write_bytes(changed)
        os.rename(staged, disk)
        after = raw_request(reel.port, "GET", ladder["media"])
        assert after.body == changed
        assert raw_request(reel.port, "GET", ladder["media"]).body == changed
    finally:
        staged = disk.with_name(".staged")
        staged.write_bytes(original)
        os.rename(staged, disk)
    assert raw_request(reel.port, "GET", ladder["media"]).body == original


def read_response(sock, buffered: bytes, method: str = "GET") -> tuple[int, dict[str, str], bytes, bytes]:
    """One response from a raw socket: (status, headers, body, bytes read past it)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        assert chunk, f"connection closed before a response head: {data[:200]!r}"
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = 0 if method == "HEAD" or status == 304 else int(headers.get("content-length", "0"))
    while len(data) < length:
        chunk = sock.recv(1 << 20)
        assert chunk, f"connection closed {length - len(data)} bytes before the end of a body"
        data += chunk
    return status, headers, data[:length], data[length:]


def test_pipelined_answers_keep_their_order(reel, ladder):
    """Fast and router answers mixed on one connection, all requests sent at once."""
    raw_request(reel.port, "GET", ladder["segment"])
    raw_request(reel.port, "GET", ladder["media"])
    auth = f"Authorization: Bearer {reel.admin_key}\r\n"
    requests_ = [
        ("GET", ladder["segment"], ""),
        ("GET", "/healthz", ""),
        ("GET", ladder["media"], ""),
        ("GET", f"/v1/videos/{ladder['id']}", auth),
        ("HEAD", ladder["segment"], ""),
        ("GET", router_only(ladder["media"]), ""),
        ("GET", ladder["init"], ""),
        ("GET", ladder["media"], ""),
    ]
    wire = "".join(f"{m} {p} HTTP/1.1\r\nHost: t\r\n{extra}\r\n" for m, p, extra in requests_).encode()
    media = (ladder["root"] / ladder["media"].split(ladder["id"] + "/", 1)[1]).read_bytes()
    init = (ladder["root"] / ladder["init"].split(ladder["id"] + "/", 1)[1]).read_bytes()
    segment = ladder["segment_file"].read_bytes()
    with socket.create_connection(("127.0.0.1", reel.port), timeout=30) as sock:
        sock.sendall(wire)
        rest = b""
        answers = []
        for method, _, _ in requests_:
            status, headers, body, rest = read_response(sock, rest, method)
            answers.append((status, headers, body))
    assert [a[0] for a in answers] == [200] * len(requests_)
    assert answers[0][2] == segment
    assert b'"status"' in answers[1][2]
    assert answers[2][2] == media
    assert ladder["id"].encode() in answers[3][2] and answers[3][1]["content-type"].startswith("application/json")
    assert answers[4][1]["content-length"] == str(len(segment)) and answers[4][2] == b""
    assert answers[5][2] == media and answers[7][2] == media
    assert answers[6][2] == init


def test_connection_close_is_honoured(reel, ladder):
    raw_request(reel.port, "GET", ladder["media"])
    before = fast_answers(reel)
    with socket.create_connection(("127.0.0.1", reel.port), timeout=30) as sock:
        sock.sendall(f"GET {ladder['media']} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                     f"GET {ladder['media']} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        status, _, body, rest = read_response(sock, b"")
        assert status == 200 and body
        while chunk := sock.recv(1 << 16):
            rest += chunk
        assert rest == b"", "the server answered past Connection: close"
    assert fast_answers(reel) == before + 1


@pytest.fixture(scope="module")
def sendfile_server(reel, tmp_path_factory):
    """A second server on the shared root with `--sendfile true`: every region it queues holds an open file."""
    tmp = tmp_path_factory.mktemp("fast-sendfile")
    port = free_port()
    env = {**os.environ, "REEL_PROFILES_DIR": str(PROFILES_DIR)}
    cmd = [str(reel.bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(reel.data),
           "--sendfile", "true"]
    proc = start_and_wait(cmd, tmp / "server.log", port, env)
    yield proc, port
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except Exception:
        proc.kill()


def test_a_client_that_pipelines_and_never_reads_holds_one_answer(sendfile_server, ladder):
    proc, port = sendfile_server
    count = 300
    # The largest segment of the ladder: sent with sendfile (64 KiB and up), each queued answer an open file.
    disk = max(ladder["root"].rglob("*.m4s"), key=lambda p: p.stat().st_size)
    assert disk.stat().st_size >= 64 << 10, f"{disk} is too small to leave with sendfile"
    url = f"/hls/{ladder['id']}/{disk.relative_to(ladder['root']).as_posix()}"
    segment = disk.read_bytes()
    wire = f"GET {url} HTTP/1.1\r\nHost: t\r\n\r\n".encode() * count
    for _ in range(2):  # the status and the directories cached
        raw_request(port, "GET", url)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.sendall(wire)
        time.sleep(1.5)  # the server has every request; the client reads nothing
        open_files = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        segment_files = [f for f in open_files if os.path.realpath(f) == os.path.realpath(disk)]
        assert len(segment_files) <= 2, f"{len(segment_files)} open copies of the segment for one client"
        rest = b""
        for i in range(count):
            status, _, body, rest = read_response(sock, rest)
            assert status == 200 and len(body) == len(segment), f"answer {i}"
        assert body == segment
