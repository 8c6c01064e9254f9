"""Hostile and unlucky uploads, each on a server of its own (no workers, so a finished upload stays queued):
a HEAD racing the last PATCH while the catalog is locked, space promised to unfinished uploads, per-key
quotas, and `Expect: 100-continue` only after the route accepted the request."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import _stop
from reel_http_support import REPO_ROOT, TUS, assert_problem, free_port, read_head, reel_env, start_and_wait, wait_until

OCTETS = "application/offset+octet-stream"


class Server:
    """`reel serve` on a storage root of its own, with an upload key (and a second one for quota tests)."""

    def __init__(self, reel_bin: Path, root: Path, args: list[str] = (), data: Path | None = None,
                 keys: tuple[str, str] | None = None):
        self.data = data or root / "data"
        env = reel_env()
        if keys is None:
            keys = tuple(self._key(reel_bin, name, env) for name in ("hostile-a", "hostile-b"))
        self.key, self.other_key = keys
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        log = root / f"serve-{self.port}.log"
        self.proc = start_and_wait([str(reel_bin), "serve", "--data", str(self.data), "--host", "127.0.0.1",
                                    "--port", str(self.port), *args], log, self.port, env)

    def _key(self, reel_bin: Path, name: str, env) -> str:
        return subprocess.run([str(reel_bin), "keys", "create", "--name", name, "--scope", "upload",
                               "--data", str(self.data)], capture_output=True, text=True, timeout=60,
                              cwd=REPO_ROOT, env=env, check=True).stdout.split()[0]

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {**TUS, "Authorization": f"Bearer {key or self.key}"}

    def create(self, length: int, key: str | None = None) -> requests.Response:
        return requests.post(self.base + "/v1/uploads", headers={**self.auth(key), "Upload-Length": str(length)},
                             timeout=30)

    def patch(self, location: str, offset: int, data: bytes, key: str | None = None) -> requests.Response:
        return requests.patch(self.base + location, data=data, timeout=60, headers={
            **self.auth(key), "Upload-Offset": str(offset), "Content-Type": OCTETS})

    def stop(self):
        _stop(self.proc, f"reel serve :{self.port}")


@pytest.fixture
def server(reel_bin: Path, tmp_path):
    s = Server(reel_bin, tmp_path)
    yield s
    s.stop()


# --------------------------------------------------------------------------
# A HEAD racing the last PATCH
# --------------------------------------------------------------------------


def _started_upload(server: Server, body: bytes, first: int):
    """A tus upload of `body` with its first `first` bytes sent: (location, id, its data file)."""
    r = server.create(len(body))
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert server.patch(location, 0, body[:first]).status_code == 204
    upload_id = location.rsplit("/", 1)[1]
    return location, upload_id, server.data / "uploads" / upload_id / "data"


def test_a_finish_cut_short_is_completed_by_the_next_head(server: Server):
    """A node died between moving the last PATCH's bytes into originals/ and registering the video (the
    catalog still says every byte arrived, nothing registered). The next HEAD, on any node, takes the
    upload's lock, gives the bytes back to the upload and finishes it: the client gets its video and the
    original is where the catalog says, once."""
    body = os.urandom(300_000)
    location, upload_id, data_file = _started_upload(server, body, 100_000)
    # The dead node's last steps, as it left them: every byte written and recorded, bytes moved.
    with open(data_file, "ab") as f:
        f.write(body[100_000:])
    original = server.data / "originals" / upload_id / "source.bin"
    original.parent.mkdir(parents=True)
    data_file.rename(original)
    catalog = sqlite3.connect(server.data / "reel.sqlite", timeout=30, isolation_level=None)
    try:
        catalog.execute('UPDATE uploads SET "offset" = length WHERE id = ?', (upload_id,))
    finally:
        catalog.close()

    head = requests.head(server.base + location, headers=server.auth(), timeout=30)
    assert head.status_code == 200, head.text
    assert int(head.headers["Upload-Offset"]) == len(body)
    video_id = head.headers.get("Reel-Video-Id")
    assert video_id == upload_id, head.headers
    video = requests.get(f"{server.base}/v1/videos/{video_id}", headers=server.auth(), timeout=30).json()
    assert video["state"] in ("queued", "processing", "ready", "failed"), video
    originals = list((server.data / "originals" / video_id).glob("source.*"))
    assert len(originals) == 1 and originals[0].read_bytes() == body, originals
    assert not data_file.exists(), "the bytes must not be back in uploads/"
    # A later HEAD leaves it alone.
    again = requests.head(server.base + location, headers=server.auth(), timeout=30)
    assert again.status_code == 200 and again.headers.get("Reel-Video-Id") == video_id
    assert originals[0].is_file() and not data_file.exists()


def test_a_patch_while_another_node_holds_the_upload_is_refused(server: Server):
    """The upload's write lock lives in the catalog: a PATCH arriving while another node (here: a lock
    written into the catalog as another node would) holds it gets 423 and changes nothing; once that
    lock expires, the PATCH goes through from the recorded offset."""
    body = os.urandom(200_000)
    location, upload_id, data_file = _started_upload(server, body, 50_000)
    # The other node died mid-PATCH: it wrote bytes past the recorded offset and still holds the lock.
    with open(data_file, "ab") as f:
        f.write(b"garbage from a dead node")
    catalog = sqlite3.connect(server.data / "reel.sqlite", timeout=30, isolation_level=None)
    try:
        catalog.execute("UPDATE uploads SET lock_holder = 'other-node:1:x', "
                        "lock_expires_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '+3 seconds') WHERE id = ?", (upload_id,))
    finally:
        catalog.close()
    refused = server.patch(location, 50_000, body[50_000:])
    assert refused.status_code == 423, refused.text
    head = requests.head(server.base + location, headers=server.auth(), timeout=30)
    assert int(head.headers["Upload-Offset"]) == 50_000, "only what was recorded counts"
    wait_until(lambda: server.patch(location, 50_000, body[50_000:]).status_code == 204, 30, 0.5,
               "the PATCH going through once the dead node's lock expired")
    done = requests.head(server.base + location, headers=server.auth(), timeout=30)
    video_id = done.headers.get("Reel-Video-Id")
    assert video_id, done.headers
    originals = list((server.data / "originals" / video_id).glob("source.*"))
    assert len(originals) == 1 and originals[0].read_bytes() == body, "the dead node's bytes were cut off"


# --------------------------------------------------------------------------
# Space promised to unfinished uploads, and quotas per key
# --------------------------------------------------------------------------

# Nothing but free space limits these servers' uploads (quotas and the size limit far out of the way).
UNLIMITED = ["--max-upload-size", "1000TiB", "--min-free-space", "1MiB",
             "--max-bytes-in-flight-per-key", "1000TiB"]


def _free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_space_is_promised_to_unfinished_uploads(reel_bin: Path, tmp_path):
    """Two uploads of 60 % of the free space each: the first is promised its bytes, the second is refused
    (507), also by a second server on the same storage root; deleting the first frees its promise."""
    first = Server(reel_bin, tmp_path, UNLIMITED)
    second = None
    try:
        share = _free_bytes(first.data) * 6 // 10
        a = first.create(share)
        assert a.status_code == 201, a.text
        refused = assert_problem(first.create(share, key=first.other_key), 507, "second 60 % upload")
        assert "promised" in refused["detail"], refused
        # The promise is on the storage root, not in the first server's memory.
        second = Server(reel_bin, tmp_path, UNLIMITED, data=first.data, keys=(first.key, first.other_key))
        assert_problem(second.create(share, key=second.other_key), 507, "second 60 % upload on another server")
        # Bytes already received are on disk, no longer promised: the promise shrinks as they arrive.
        assert first.patch(a.headers["Location"], 0, b"x" * 1000).status_code == 204
        assert requests.delete(first.base + a.headers["Location"], headers=first.auth(), timeout=30).status_code == 204
        b = second.create(share, key=second.other_key)
        assert b.status_code == 201, b.text
    finally:
        first.stop()
        if second:
            second.stop()


def test_quotas_per_key(reel_bin: Path, tmp_path):
    s = Server(reel_bin, tmp_path, ["--max-open-uploads-per-key", "2", "--max-bytes-in-flight-per-key", "1000"])
    try:
        # Larger than the key may ever have in flight: 413, whatever else it has open.
        too_big = assert_problem(s.create(1001), 413, "upload above the key's bytes in flight")
        assert "1000" in too_big["detail"], too_big
        # Bytes in flight: 600 open, 600 more would be 1200.
        a = s.create(600)
        assert a.status_code == 201, a.text
        over = assert_problem(s.create(600), 507, "second 600-byte upload")
        assert "in flight" in over["detail"], over
        # Quotas are per key: the other key is not affected.
        assert s.create(600, key=s.other_key).status_code == 201
        # Open uploads: two open, a third (small) one is refused.
        b = s.create(100)
        assert b.status_code == 201, b.text
        many = assert_problem(s.create(100), 507, "third open upload")
        assert "open uploads" in many["detail"], many
        # Plain uploads count as well.
        put = requests.put(s.base + "/v1/videos?filename=a.mp4", data=b"p" * 10, timeout=30,
                           headers={"Authorization": f"Bearer {s.key}"})
        assert_problem(put, 507, "plain upload with two uploads open")
        # A finished upload no longer counts.
        done = s.patch(b.headers["Location"], 0, b"b" * 100)
        assert done.status_code == 204 and "Reel-Video-Id" in done.headers, done.text
        assert s.create(100).status_code == 201
        # Nor does a terminated one.
        assert requests.delete(s.base + a.headers["Location"], headers=s.auth(), timeout=30).status_code == 204
        assert s.create(600).status_code == 201
    finally:
        s.stop()


def test_stored_bytes_quota_per_key(reel_bin: Path, tmp_path):
    """Videos a key keeps count against its storage quota, with what it has in flight."""
    s = Server(reel_bin, tmp_path, ["--max-stored-per-key", "1000"])
    try:
        first = s.create(600)
        assert first.status_code == 201, first.text
        done = s.patch(first.headers["Location"], 0, b"v" * 600)
        assert done.status_code == 204 and "Reel-Video-Id" in done.headers, done.text
        over = assert_problem(s.create(500), 507, "600 stored + 500 more")
        assert "storage quota" in over["detail"] and "600" in over["detail"], over
        assert s.create(300).status_code == 201
        # Another key stores nothing yet.
        assert s.create(900, key=s.other_key).status_code == 201
    finally:
        s.stop()


def _chunked_put(s: "Server", size: int, key: str | None = None) -> requests.Response:
    """A plain upload of unknown length (Transfer-Encoding: chunked), like `curl -T -`."""
    def body():
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            yield b"c" * n
            left -= n
    return requests.put(s.base + "/v1/videos?filename=chunked.mp4", data=body(), timeout=120,
                        headers={"Authorization": f"Bearer {key or s.key}"})


def test_chunked_plain_upload_is_held_to_the_quotas(reel_bin: Path, tmp_path):
    """A body of unknown length promised nothing at creation: it is checked as it arrives (and at its end)."""
    s = Server(reel_bin, tmp_path, ["--max-bytes-in-flight-per-key", "1000", "--max-stored-per-key", "3000"])
    try:
        over = assert_problem(_chunked_put(s, 5000), 507, "chunked body above the bytes in flight")
        assert "quota" in over["detail"], over
        assert not any((s.data / "uploads").iterdir()), "the refused plain upload left files behind"
        assert _chunked_put(s, 900).status_code == 201
        assert _chunked_put(s, 900).status_code == 201
        assert _chunked_put(s, 900).status_code == 201
        stored = assert_problem(_chunked_put(s, 900), 507, "chunked body past the storage quota")
        assert "storage quota" in stored["detail"], stored
    finally:
        s.stop()


def test_chunked_plain_upload_cannot_take_promised_space(reel_bin: Path, tmp_path):
    """A tus upload is promised 250 MiB of the 300 MiB above the reserve; a chunked PUT may not eat into it."""
    data = tmp_path / "data"
    data.mkdir()
    reserve = _free_bytes(data) - (300 << 20)
    s = Server(reel_bin, tmp_path, ["--max-upload-size", "1TiB", "--min-free-space", str(reserve),
                                    "--max-bytes-in-flight-per-key", "1TiB"], data=data)
    try:
        assert s.create(250 << 20).status_code == 201
        refused = assert_problem(_chunked_put(s, 200 << 20, key=s.other_key), 507, "chunked PUT into promised space")
        assert "promised" in refused["detail"], refused
        assert _free_bytes(data) > reserve, "the reserve was eaten"
    finally:
        s.stop()


# --------------------------------------------------------------------------
# Expect: 100-continue only once the route accepted the request; refused bodies are not read
# --------------------------------------------------------------------------

BIG_BODY = 30 << 20


def _fields(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def _bytes_accepted(s: socket.socket, total: int) -> int:
    """Sends up to `total` bytes; returns how many went out before the server closed the connection."""
    block = b"\0" * (256 << 10)
    sent = 0
    try:
        while sent < total:
            sent += s.send(block[: min(len(block), total - sent)])
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def _refused_and_closed(s: socket.socket, status: int) -> None:
    head, _ = read_head(s)
    assert head.startswith(f"HTTP/1.1 {status}".encode()), f"expected {status} first, got {head[:200]!r}"
    assert _fields(head).get("connection", "").lower() == "close", f"the refusal must say Connection: close: {head!r}"
    sent = _bytes_accepted(s, BIG_BODY)
    assert sent < BIG_BODY, "the server kept reading the body of a request it refused"


def test_expect_continue_is_not_answered_before_authentication(server: Server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall((f"PUT /v1/videos?filename=big.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {BIG_BODY}\r\n"
                   "Authorization: Bearer reel_not-a-key\r\nExpect: 100-continue\r\n\r\n").encode())
        _refused_and_closed(s, 401)


def test_expect_continue_is_not_answered_for_a_wrong_offset(server: Server):
    r = server.create(1000)
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall((f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.key}\r\n"
                   f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 500\r\nContent-Type: {OCTETS}\r\n"
                   "Content-Length: 500\r\nExpect: 100-continue\r\n\r\n").encode())
        head, _ = read_head(s)
        assert head.startswith(b"HTTP/1.1 409"), f"a wrong offset must be refused before 100 Continue: {head[:200]!r}"
    # The right offset: 100 Continue, then the body, then 204.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall((f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.key}\r\n"
                   f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: {OCTETS}\r\n"
                   "Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n").encode())
        head, rest = read_head(s)
        assert head.startswith(b"HTTP/1.1 100"), head[:200]
        s.sendall(b"z" * 1000)
        if b"\r\n\r\n" in rest:
            head = rest.partition(b"\r\n\r\n")[0]
        else:
            head, _ = read_head(s)
        assert head.startswith(b"HTTP/1.1 204") and _fields(head)["upload-offset"] == "1000", head[:300]


def test_refused_request_body_is_not_read(server: Server):
    """Without Expect: a 401 comes before the body; the server closes instead of reading 30 MiB."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall((f"PUT /v1/videos?filename=big.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Length: {BIG_BODY}\r\n\r\n").encode())
        _refused_and_closed(s, 401)


def test_refused_tus_patch_body_is_not_read(server: Server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall((f"PATCH /v1/uploads/unknown HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.key}\r\n"
                   f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: {OCTETS}\r\n"
                   f"Content-Length: {BIG_BODY}\r\n\r\n").encode())
        _refused_and_closed(s, 404)


# --------------------------------------------------------------------------
# Slow clients and too many connections
# --------------------------------------------------------------------------

def _closed_while_trickling(sock: socket.socket, piece: bytes, pieces: int, pause: float) -> bool:
    """Sends `piece` every `pause` seconds; True once the server closed the connection."""
    import select

    for _ in range(pieces):
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return True
        readable, _, _ = select.select([sock], [], [], pause)
        if readable:
            try:
                if sock.recv(65536) == b"":
                    return True
            except ConnectionResetError:
                return True
    return False


def test_slow_request_head_is_cut_off(reel_bin: Path, tmp_path):
    """A head trickled one byte at a time (never idle long enough for the idle timeout) is cut off."""
    s = Server(reel_bin, tmp_path, ["--request-head-timeout", "1s"])
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert _closed_while_trickling(sock, b"X", 120, 0.25), "a head trickled for 30 s was not cut off"
        assert requests.get(s.base + "/healthz", timeout=30).status_code == 200
    finally:
        s.stop()


def test_slow_upload_body_is_cut_off(reel_bin: Path, tmp_path):
    s = Server(reel_bin, tmp_path, ["--min-body-rate", "100KiB", "--body-rate-window", "1s"])
    try:
        length = 5 << 20
        r = s.create(length)
        assert r.status_code == 201, r.text
        location = r.headers["Location"]
        # At full speed the first half goes through.
        assert s.patch(location, 0, b"f" * (length // 2)).status_code == 204
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as sock:
            sock.sendall((f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {s.key}\r\n"
                          f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {length // 2}\r\nContent-Type: {OCTETS}\r\n"
                          f"Content-Length: {length // 2}\r\n\r\n").encode())
            # 1 KiB every 0.2 s is 5 KiB/s, far below 100 KiB/s.
            assert _closed_while_trickling(sock, b"s" * 1024, 150, 0.2), "a body trickled for 30 s was not cut off"
        # What arrived is kept: the client can resume.
        head = wait_until(lambda: (h := requests.head(s.base + location, headers=s.auth(), timeout=30)).status_code == 200
                          and int(h.headers["Upload-Offset"]) > length // 2 and h, 30, 0.2, "the trickled bytes kept")
        assert int(head.headers["Upload-Offset"]) < length
    finally:
        s.stop()


def test_connections_per_client_are_capped(reel_bin: Path, tmp_path):
    s = Server(reel_bin, tmp_path, ["--max-connections-per-client", "2"])
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        def connect_served() -> socket.socket | None:
            # The health checks that waited for the server may still count until it sees them close.
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            try:
                sock.sendall(request)
                assert read_head(sock)[0].startswith(b"HTTP/1.1 200")
                return sock
            except (AssertionError, ConnectionResetError, BrokenPipeError):
                sock.close()
                return None

        held = [wait_until(connect_served, 30, 0.2, "a connection served") for _ in range(2)]
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as third:
            try:
                third.sendall(request)
                answer = third.recv(65536)
            except (BrokenPipeError, ConnectionResetError):
                answer = b""
            assert answer == b"", f"a third connection from the same address was served: {answer[:100]!r}"
        held.pop().close()

        def served() -> bool:
            try:
                return requests.get(s.base + "/healthz", timeout=30).status_code == 200
            except requests.ConnectionError:
                return False  # the server has not seen the close yet

        wait_until(served, 30, 0.2, "a connection accepted again once one closed")
        for sock in held:
            sock.close()
    finally:
        s.stop()


def test_creation_with_an_oversized_first_chunk_is_not_read_on(server: Server):
    """creation-with-upload whose declared body runs past Upload-Length: refused (413) before anything is
    created, and the body is not read."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall((f"POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.key}\r\n"
                   f"Tus-Resumable: 1.0.0\r\nUpload-Length: 10\r\nContent-Type: {OCTETS}\r\n"
                   f"Content-Length: {BIG_BODY}\r\n\r\n").encode())
        sent = _bytes_accepted(s, BIG_BODY)
        assert sent < BIG_BODY, "the server kept reading a first chunk past Upload-Length"


def test_expect_continue_on_a_route_that_reads_no_body_closes_the_connection(reel_bin: Path, tmp_path):
    """`GET /healthz` with `Expect: 100-continue` and a declared body: the answer closes the connection
    instead of draining a body the client may trickle in for ever."""
    s = Server(reel_bin, tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
            head, _ = read_head(sock)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            assert b"connection: close" in head.lower(), head
            sock.settimeout(20)
            try:
                for _ in range(20):          # a byte a second: a trickle the server must not wait for
                    sock.sendall(b"x")
                    time.sleep(1)
                closed = sock.recv(1) == b""
            except (ConnectionResetError, BrokenPipeError):
                closed = True
            assert closed, "the server kept the connection open to drain the body"
    finally:
        s.stop()


def test_no_100_continue_for_a_body_that_cannot_fit_or_a_bad_checksum(server: Server):
    """A PATCH declaring more than is left of Upload-Length gets its refusal instead of 100 Continue; a
    creation-with-upload with a malformed Upload-Checksum creates nothing."""
    created = server.create(100)
    assert created.status_code == 201, created.text
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall((f"PATCH {created.headers['Location']} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {server.key}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                   f"Content-Type: {OCTETS}\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n").encode())
        head, _ = read_head(s)
        assert head.startswith(b"HTTP/1.1 400"), head[:200]
    before = set((server.data / "uploads").iterdir())
    r = requests.post(server.base + "/v1/uploads", data=b"x" * 10, timeout=30, headers={
        **server.auth(), "Upload-Length": "10", "Content-Type": OCTETS, "Upload-Checksum": "md5 AAAA"})
    assert r.status_code == 400, f"{r.status_code} {r.text[:200]}"
    assert set((server.data / "uploads").iterdir()) == before, "a refused creation left an upload behind"
