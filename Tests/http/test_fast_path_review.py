"""Review of the streaming fast path (Sources/Server/Streaming/StreamingFastPath.swift): cases where it does
not behave as the router does, or holds what the router would not.

Which path answered is told by the order of two headers: the fast path writes `Server` before `Date`,
Hummingbird writes `Date` before `Server`. The fast path engages once the video's status is
cached (fresh for 2 s after any request for the video) and, for files read into memory, once the file is in
the cache; every test warms both first and checks that the fast path did answer.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

# A file above StoredFile.wholeReadLimit (8 MiB) always leaves as a file region: never read into memory,
# answered on the fast path as soon as the video's status is cached. Large enough to fill the socket buffers
# of a client that does not read, so that the fast path holds the next pipelined request.
BIG_NAME = "review-held.bin"
BIG_SIZE = 24 << 20


class Raw:
    """One keep-alive connection; responses parsed with their header order kept."""

    def __init__(self, port: int, receive_buffer: int | None = None, timeout: float = 30):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def request(method: str, path: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("the server closed the connection")
        self.buf += data

    def response(self, head_request: bool = False) -> dict:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = [tuple(line.split(": ", 1)) for line in lines[1:]]
        names = [name.lower() for name, _ in fields]
        headers = {name.lower(): value for name, value in fields}
        status = int(lines[0].split()[1])
        length = 0 if head_request or status in (204, 304) else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        path = "?"
        if "server" in names and "date" in names:
            path = "fast" if names.index("server") < names.index("date") else "router"
        return {"status": status, "headers": headers, "body": body, "path": path}


@pytest.fixture(scope="module")
def held(reel, landscape):
    vid = landscape["id"]
    folder = reel.data / "hls" / vid
    big = folder / BIG_NAME
    with open(big, "wb") as f:
        f.truncate(BIG_SIZE)
    master = (folder / "master.m3u8").read_text()
    media = next(line for line in master.splitlines() if line.endswith(".m3u8") and not line.startswith("#"))
    yield {"id": vid, "big": f"/hls/{vid}/{BIG_NAME}", "media": f"/hls/{vid}/{media}",
           "media_bytes": (folder / media).read_bytes()}
    big.unlink(missing_ok=True)


def warm(reel, paths: list[str]):
    """The video's status cached and each file in the cache (the router answers the first request)."""
    conn = Raw(reel.port)
    try:
        for path in paths:
            for _ in range(2):
                conn.send(Raw.request("HEAD", path))
                assert conn.response(head_request=True)["status"] == 200, path
    finally:
        conn.close()


def pipeline_then_read(reel, first: str, second: str) -> list:
    """Sends GET `first` (24 MiB), GET `second` and a line that is not HTTP in one write, waits while nothing
    is read (the first answer fills the socket), then reads: what each of the three got."""
    conn = Raw(reel.port, receive_buffer=16 << 10)
    try:
        conn.send(Raw.request("GET", first) + Raw.request("GET", second) + b"NOT HTTP AT ALL\r\n\r\n")
        time.sleep(1)
        got = []
        try:
            for _ in range(3):
                got.append(conn.response())
        except (EOFError, ConnectionResetError):
            pass  # closed: the answers read so far are still checked
        return got
    finally:
        conn.close()


def test_a_parse_error_never_takes_the_place_of_a_pipelined_answer(reel, held):
    """HTTP/1.1 answers leave in request order. The fast path holds the second request while the first answer
    fills the socket; a malformed third request must not be answered (400) before it, in its place: the
    client takes that 400 for the answer to its second request (and a proxy that pipelines, for someone
    else's). Each answer read must be the one to the request in its position; the connection may close early
    (the router also closes on a parse error, at times before its pending answers have left), but never with a
    wrong answer. The router, given the same three requests, answers 200, 200 (the playlist), then 400."""
    expected = [("the 24 MiB file", lambda g: g["status"] == 200 and len(g["body"]) == BIG_SIZE),
                ("the playlist", lambda g: g["status"] == 200 and g["body"] == held["media_bytes"]),
                ("the malformed request (400)", lambda g: g["status"] == 400)]
    for _ in range(3):
        warm(reel, [held["big"], held["media"]])
        got = pipeline_then_read(reel, held["big"], held["media"])
        if got and got[0]["path"] == "fast":
            break
    else:
        pytest.fail("the first request was never answered on the fast path (status or file cache cold)")
    answers = [(g["status"], g["path"], g["headers"].get("content-type"), len(g["body"])) for g in got]
    for position, (answer, (what, matches)) in enumerate(zip(got, expected)):
        assert matches(answer), (f"answer #{position + 1} should be the one to {what}, got {answers[position]}; "
                                 f"answers in order: {answers}")


# --------------------------------------------------------------------------
# Memory held for clients
# --------------------------------------------------------------------------


def server_pid(port: int) -> int:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and b"--port" in args and args[args.index(b"--port") + 1] == str(port).encode():
            return int(entry)
    raise AssertionError(f"no `reel serve --port {port}` process found")


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def distinct_clients(reel, path: str, count: int, header_bytes: int) -> float:
    """`count` GETs of `path`, each from a "different client": a distinct, long User-Agent and platform hint
    (together `header_bytes`, within the server's 80 KiB header limit). The server's resident growth, MiB."""
    pid = server_pid(reel.port)
    before = resident_mib(pid)
    conn = Raw(reel.port, timeout=60)
    try:
        half = header_bytes // 2
        for i in range(count):
            agent = f"Mozilla/5.0 client-{i:06d}-{time.time_ns()} " + "x" * half
            conn.send(Raw.request("GET", path, (("User-Agent", agent), ("Sec-CH-UA-Platform", '"' + "p" * half + '"'))))
            answer = conn.response()
            assert answer["status"] == 200, (answer["status"], answer["body"][:200])
    finally:
        conn.close()
    time.sleep(0.5)
    return resident_mib(pid) - before


def test_device_decisions_do_not_keep_what_each_client_sent(reel, landscape):
    """Device decisions are memoised by everything a client sent (User-Agent, hints): with long, distinct
    values (a client writes what it likes there) each entry keeps up to 80 KiB, a thousand entries ~80 MiB,
    for as long as the server runs. The same requests for a media playlist (no decision) are the baseline."""
    vid = landscape["id"]
    count, header_bytes = 400, 72 << 10
    media_growth = distinct_clients(reel, f"/hls/{vid}/{next_media(reel, vid)}", count, header_bytes)
    master_growth = distinct_clients(reel, f"/hls/{vid}/master.m3u8", count, header_bytes)
    kept = master_growth - media_growth
    # What was sent: count * header_bytes = ~28 MiB. Kept by a memo of bounded keys: next to nothing.
    assert kept < 8, (f"{count} masters for distinct {header_bytes >> 10} KiB clients left the server {master_growth:.0f} MiB "
                      f"larger (the same requests for a media playlist: {media_growth:.0f} MiB)")


def next_media(reel, vid: str) -> str:
    master = (reel.data / "hls" / vid / "master.m3u8").read_text()
    return next(line for line in master.splitlines() if line.endswith(".m3u8") and not line.startswith("#"))
