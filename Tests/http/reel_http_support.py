"""Helpers shared by the HTTP suite: the running server, waiting, raw requests, playlists, OpenAPI checks.

Imported by conftest.py and the test modules (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urljoin

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Fixtures"
PROFILES_DIR = Path(os.environ.get("REEL_PROFILES_DIR", REPO_ROOT / "profiles"))
OPENAPI_PATH = REPO_ROOT / "docs" / "openapi.yaml"

MAX_UPLOAD_SIZE = 200_000_000        # --max-upload-size given to `reel serve`
READY_TIMEOUT_S = 180                # a fixture becomes ready (or failed) within this
HTTP_TIMEOUT_S = 30                  # one request
TUS = {"Tus-Resumable": "1.0.0"}
IPHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
             "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
DESKTOP_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Reel:
    """One `reel serve` (plus its workers) on 127.0.0.1, with its storage root and keys."""

    bin: Path
    data: Path
    port: int
    admin_key: str
    upload_key: str
    log_dir: Path
    server_log: Path
    worker_logs: list[Path] = dataclasses.field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path.lstrip("/")) if not path.startswith("http") else path

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    @property
    def uploader(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.upload_key}"}

    def get(self, path: str, key: str | None = "admin", **kw) -> requests.Response:
        return self.request("GET", path, key=key, **kw)

    def request(self, method: str, path: str, key: str | None = "admin", headers=None, **kw) -> requests.Response:
        h = {}
        if key == "admin":
            h.update(self.admin)
        elif key == "upload":
            h.update(self.uploader)
        elif key:
            h["Authorization"] = f"Bearer {key}"
        h.update(headers or {})
        kw.setdefault("timeout", HTTP_TIMEOUT_S)
        kw.setdefault("allow_redirects", False)
        return requests.request(method, self.url(path), headers=h, **kw)

    # -- logs ------------------------------------------------------------

    def log_tails(self, lines: int = 60) -> str:
        out = []
        for path in [self.server_log, *self.worker_logs]:
            out.append(f"--- {path.name} (last {lines} lines) ---\n{tail(path, lines)}")
        return "\n".join(out)

    # -- videos ----------------------------------------------------------

    def video(self, vid: str) -> dict:
        r = self.get(f"/v1/videos/{vid}")
        assert r.status_code == 200, f"GET /v1/videos/{vid}: {r.status_code} {r.text[:500]}\n{self.log_tails()}"
        return r.json()

    def wait_state(self, vid: str, want: str = "ready", timeout: float = READY_TIMEOUT_S) -> dict:
        """Polls GET /v1/videos/{id} until `state` is `want`; fails at once on an unexpected terminal state."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.video(vid)
            if last["state"] == want:
                return last
            if last["state"] == "failed" and want != "failed":
                raise AssertionError(
                    f"video {vid} failed: {last.get('error')!r}\n{json.dumps(last, indent=1)}\n{self.log_tails()}")
            if last["state"] == "ready" and want == "failed":
                raise AssertionError(f"video {vid} became ready, expected failed\n{json.dumps(last, indent=1)}")
            time.sleep(0.5)
        raise AssertionError(
            f"video {vid} not {want} after {timeout:.0f} s; last: {json.dumps(last, indent=1)}\n{self.log_tails()}")

    def all_video_ids(self) -> set[str]:
        """Every video id the admin key can see, following `next` (bounded)."""
        ids: set[str] = set()
        path: str | None = "/v1/videos?limit=100&offset=0"
        for _ in range(100):
            if path is None:
                break
            r = self.get(path)
            assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}"
            page = r.json()
            ids.update(v["id"] for v in page["items"])
            path = page["next"]
        return ids

    def put_video(self, fixture: str | Path, key: str = "admin", **params) -> requests.Response:
        path = Path(fixture)
        if not path.is_absolute():
            path = FIXTURES / path
        params.setdefault("filename", path.name)
        with open(path, "rb") as body:
            return self.request("PUT", "/v1/videos", key=key, params=params, data=body,
                                headers={"Content-Type": "application/octet-stream"}, timeout=120)

    # -- signing -----------------------------------------------------------

    def signing_key(self) -> bytes:
        path = self.data / "signing.key"
        assert path.is_file(), f"{path} does not exist: the server must keep its URL-signing key there"
        return path.read_text(encoding="utf-8").strip().encode("utf-8")

    def signed_path(self, vid: str, expires: int, rest: str = "master.m3u8", sign_for: str | None = None) -> str:
        sig = sign(self.signing_key(), sign_for or vid, expires)
        return f"/s/{expires}/{sig}/hls/{vid}/{rest}"


def sign(key: bytes, vid: str, expires: int) -> str:
    mac = hmac.new(key, f"{vid}:{expires}".encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def tail(path: Path, lines: int = 60) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"({e})"
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_and_wait(cmd: list[str], log: Path, port: int, env: dict[str, str], cwd: Path = REPO_ROOT,
                   timeout: float = 60) -> subprocess.Popen:
    """Starts a server process (output to `log`) and waits until GET /healthz on `port` answers 200."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"{cmd[0]} exited {proc.returncode}\n{tail(log)}"
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{' '.join(cmd)} did not answer /healthz within {timeout:g} s\n{tail(log)}")
        time.sleep(0.2)


def reel_env(**extra: str) -> dict[str, str]:
    """The environment for a `reel` process: the repository's profiles, `info` logs, and neither a data
    dir nor a database from the caller's environment (tests always say which); `extra` on top."""
    env = dict(os.environ)
    env["REEL_PROFILES_DIR"] = str(PROFILES_DIR)
    env.setdefault("REEL_LOG_LEVEL", "info")
    env.pop("REEL_DATA_DIR", None)       # --data is always given
    env.pop("REEL_DATABASE_URL", None)   # the catalog lives in the temporary storage root, or --database says
    env.update(extra)
    return env


def create_key(reel_bin: Path, data: Path, name: str, scope: str, extra_args: tuple[str, ...] = ()) -> str:
    """`reel keys create` (with `extra_args`, e.g. --database URL); the key it prints, or a failed test."""
    import pytest

    cmd = [str(reel_bin), "keys", "create", "--name", name, "--scope", scope, "--data", str(data), *extra_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=reel_env())
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    lines = proc.stdout.splitlines()
    key = lines[0].strip() if lines else ""
    if not key.startswith("reel_"):
        pytest.fail(f"`reel keys create` printed {proc.stdout!r}; expected the key (reel_…) alone on the first line",
                    pytrace=False)
    return key


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fixture_path(name: str) -> Path:
    return FIXTURES / name


# --------------------------------------------------------------------------
# Requests that must not be normalised
# --------------------------------------------------------------------------


@dataclasses.dataclass
class RawResponse:
    status: int
    headers: dict[str, str]   # lower-cased names
    body: bytes


def raw_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                timeout: float = HTTP_TIMEOUT_S) -> RawResponse:
    """Sends `path` byte for byte (http.client neither resolves dots nor decodes escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read() if method != "HEAD" else b""
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def read_head(sock, what: str = "a response") -> tuple[bytes, bytes]:
    """The next response head on a raw socket (status line and fields) and whatever followed it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {what}: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


# --------------------------------------------------------------------------
# curl, ffprobe, ffmpeg
# --------------------------------------------------------------------------


@dataclasses.dataclass
class CurlResult:
    status: int
    headers: dict[str, str]   # lower-cased names; the last response's
    body: bytes
    stderr: str

    def json(self):
        return json.loads(self.body)


def curl(args: list[str], tmp: Path, timeout: float = 120) -> CurlResult:
    tmp.mkdir(parents=True, exist_ok=True)
    hdr, body = tmp / "curl-headers.txt", tmp / "curl-body.bin"
    for p in (hdr, body):
        p.unlink(missing_ok=True)
    cmd = ["curl", "-sS", "--max-time", str(int(timeout)), "-D", str(hdr), "-o", str(body),
           "-w", "%{http_code}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}"
    headers: dict[str, str] = {}
    if hdr.exists():
        # Only the last response's headers (after a 100 Continue, for example).
        blocks = [b for b in hdr.read_text("latin-1").replace("\r\n", "\n").split("\n\n") if b.strip()]
        for line in (blocks[-1].splitlines()[1:] if blocks else []):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    return CurlResult(int(proc.stdout.strip() or 0), headers, body.read_bytes() if body.exists() else b"", proc.stderr)


def ffprobe_streams(url: str, timeout: float = 120) -> list[dict]:
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", url],
        capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"ffprobe {url} exited {proc.returncode}: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout).get("streams", [])


def ffmpeg_decode(url: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-f", "null", "-"],
                          capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------
# Playlists
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int
    width: int | None
    height: int | None

    @property
    def short_side(self) -> int:
        if self.width is None or self.height is None:
            return 0
        return min(self.width, self.height)


def variants(master_text: str) -> list[Variant]:
    """The #EXT-X-STREAM-INF entries of a master playlist, in order."""
    import m3u8

    pl = m3u8.loads(master_text)
    assert pl.is_variant, f"not a master playlist:\n{master_text[:1000]}"
    out = []
    for p in pl.playlists:
        res = p.stream_info.resolution
        out.append(Variant(p.uri, int(p.stream_info.bandwidth), res[0] if res else None, res[1] if res else None))
    return out


# --------------------------------------------------------------------------
# profiles/devices.yaml
# --------------------------------------------------------------------------


def load_devices() -> dict | list:
    import yaml

    path = PROFILES_DIR / "devices.yaml"
    assert path.is_file(), f"{path} is missing (docs/HTTP.md: the device rules live in profiles/devices.yaml)"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _find_nodes(tree, want) -> list:
    """Sub-trees named `want`: a mapping key equal to it, or a list item whose name/class/id is it."""
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if want(str(k)):
                found.append(v)
            found.extend(_find_nodes(v, want))
        for k in ("name", "class", "id", "device"):
            if isinstance(tree.get(k), str) and want(tree[k]) and tree not in found:
                found.append(tree)
    elif isinstance(tree, list):
        for item in tree:
            found.extend(_find_nodes(item, want))
    return found


def _height_in(node) -> int | None:
    """The height cap inside a device rule: an int under a key mentioning height/short side (max_* first)."""
    hits: list[tuple[int, int]] = []

    def walk(n):
        if isinstance(n, dict):
            for k, v in n.items():
                key = str(k).lower().replace("-", "_")
                if isinstance(v, int) and not isinstance(v, bool) and re.search(r"height|short|resolution|rung|^p$", key):
                    rank = 0 if "max" in key else 1
                    hits.append((rank, v))
                elif isinstance(v, str) and re.fullmatch(r"\d{3,4}p", v.strip()) and re.search(r"height|rung|max", key):
                    hits.append((0 if "max" in key else 1, int(v.strip()[:-1])))
                else:
                    walk(v)
        elif isinstance(n, list):
            for x in n:
                walk(x)

    walk(node)
    if not hits:
        return None
    hits.sort()
    return hits[0][1]


def device_height_limit(cls: str) -> int:
    """The tallest rung (short side, pixels) profiles/devices.yaml allows for device class `cls`."""
    tree = load_devices()
    nodes = _find_nodes(tree, lambda s: s.strip().lower() == cls)
    for node in nodes:
        h = _height_in(node)
        if h is not None:
            return h
    raise AssertionError(
        f"cannot find a height limit for device class {cls!r} in {PROFILES_DIR / 'devices.yaml'}: expected a "
        f"rule for {cls!r} with a key such as max_height; the file has: {json.dumps(tree, default=str)[:1500]}")


def save_data_height_limit() -> int | None:
    """The cap devices.yaml applies for `Save-Data: on`, when the file states one (directly or as a class)."""
    tree = load_devices()
    for node in _find_nodes(tree, lambda s: "save" in s.lower().replace("-", "_")):
        if isinstance(node, str):
            try:
                return device_height_limit(node.strip().lower())
            except AssertionError:
                continue
        h = _height_in(node)
        if h is not None:
            return h
        if isinstance(node, dict):
            for k in ("class", "device", "as", "use"):
                if isinstance(node.get(k), str):
                    try:
                        return device_height_limit(node[k].strip().lower())
                    except AssertionError:
                        pass
    return None


# --------------------------------------------------------------------------
# OpenAPI
# --------------------------------------------------------------------------

_SPEC = None


def openapi_spec() -> dict:
    global _SPEC
    if _SPEC is None:
        import yaml

        _SPEC = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    return _SPEC


def _resolve(spec: dict, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local $refs are used: {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        assert seen < 20, "reference loop"
    return node


def schema_validator(schema: dict):
    """A JSON Schema 2020-12 (OAS 3.1 dialect) validator for `schema`, with the spec's components in reach."""
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = openapi_spec()
    doc_uri = "urn:reel:openapi"
    registry = Registry().with_resource(doc_uri, Resource.from_contents(spec, default_specification=DRAFT202012))

    def rewrite(n):  # local refs ("#/components/...") point into the spec document
        if isinstance(n, dict):
            return {k: (doc_uri + v if k == "$ref" and isinstance(v, str) and v.startswith("#/") else rewrite(v))
                    for k, v in n.items()}
        if isinstance(n, list):
            return [rewrite(x) for x in n]
        return n

    wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:reel:check", **rewrite(schema)}
    try:  # the OAS 3.1 vocabulary and formats when openapi-schema-validator is there
        from openapi_schema_validator import OAS31Validator as Validator
        from openapi_schema_validator import oas31_format_checker as checker
    except ImportError:  # pragma: no cover
        Validator, checker = Draft202012Validator, FormatChecker()
    return Validator(wrapped, registry=registry, format_checker=checker)


def component_schema(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def validate_json(instance, schema: dict, what: str = "") -> None:
    errors = sorted(schema_validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:20]]
        raise AssertionError(f"{what} does not match docs/openapi.yaml:\n" + "\n".join(lines)
                             + f"\ninstance: {json.dumps(instance, default=str)[:2000]}")


def check_response(resp: requests.Response, method: str, path_template: str) -> None:
    """The response's status, media type, required headers and JSON body are what openapi.yaml declares."""
    spec = openapi_spec()
    path_item = spec["paths"].get(path_template)
    assert path_item is not None, f"{path_template} is not in openapi.yaml"
    op = path_item.get(method.lower())
    assert op is not None, f"{method} {path_template} is not in openapi.yaml"
    responses = op["responses"]
    status = str(resp.status_code)
    declared = responses.get(status) or responses.get(status[0] + "XX") or responses.get("default")
    assert declared is not None, (
        f"{method} {path_template} answered {status}, which openapi.yaml does not declare "
        f"(declared: {sorted(responses)}); body: {resp.text[:500]}")
    declared = _resolve(spec, declared)
    for name, header in (declared.get("headers") or {}).items():
        header = _resolve(spec, header)
        if header.get("required"):
            assert name in resp.headers, f"{method} {path_template} {status}: required header {name} missing"
    content = declared.get("content") or {}
    if not content:
        return
    media = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    assert media in content, (
        f"{method} {path_template} {status}: Content-Type {media!r}, openapi.yaml declares {sorted(content)}")
    schema = content[media].get("schema")
    if schema is not None and (media.endswith("json")):
        validate_json(resp.json(), schema, f"{method} {path_template} {status}")


def assert_problem(resp: requests.Response | RawResponse, status: int | tuple[int, ...], what: str = "") -> dict:
    """An RFC 9457 problem document with the right status."""
    statuses = (status,) if isinstance(status, int) else status
    code = resp.status_code if isinstance(resp, requests.Response) else resp.status
    text = resp.text if isinstance(resp, requests.Response) else resp.body.decode("utf-8", "replace")
    headers = resp.headers
    assert code in statuses, f"{what}: expected {statuses}, got {code}: {text[:500]}"
    ctype = (headers.get("Content-Type") or headers.get("content-type") or "").split(";")[0].strip()
    assert ctype == "application/problem+json", f"{what}: Content-Type {ctype!r}, expected application/problem+json"
    body = json.loads(text)
    validate_json(body, component_schema("Problem"), f"{what} problem")
    assert body["status"] == code, f"{what}: problem status {body['status']} != HTTP {code}"
    return body


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition", diagnose=None):
    """predicate() until it returns something truthy (which is returned); AssertionError after `timeout` s,
    with the last value and, if given, what `diagnose()` says."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"{what} not met within {timeout} s (last: {value!r}){extra}")
        time.sleep(interval)


def reel_binary() -> Path:
    """The reel binary under test: $REEL_BIN, else the debug build."""
    import pytest

    path = Path(os.environ.get("REEL_BIN", ".build/debug/reel"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"reel binary not found at {path}: build it with `swift build --product reel` "
                    "or point REEL_BIN at one", pytrace=False)
    return path


# --------------------------------------------------------------------------
# Certificates made at test time (openssl): a CA, and server certificates it signs
# --------------------------------------------------------------------------


@dataclasses.dataclass
class TestCertificates:
    folder: Path
    ca: Path

    def issue(self, name: str, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
              dates: tuple[str, str] | None = None) -> tuple[Path, Path]:
        """A key and a certificate for `hosts` signed by the CA (valid for a day, or between `dates`,
        YYYYMMDDhhmmssZ); returns (certificate, key)."""
        key, csr, cert = (self.folder / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        san = ",".join(("IP:" if re.fullmatch(r"[\d.]+|[\da-f:]+", h) else "DNS:") + h for h in hosts)
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={hosts[0]}",
                 cwd=self.folder)
        (self.folder / f"{name}.cnf").write_text(
            "[ ca ]\ndefault_ca = test\n[ test ]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n"
            "default_md = sha256\npolicy = any\nunique_subject = no\ndefault_days = 1\n[ any ]\ncommonName = supplied\n"
            f"[ ext ]\nsubjectAltName = {san}\nextendedKeyUsage = serverAuth\n")
        when = ["-startdate", dates[0], "-enddate", dates[1]] if dates else []
        _openssl("ca", "-batch", "-config", f"{name}.cnf", "-cert", self.ca, "-keyfile", self.folder / "ca.key",
                 "-in", csr, "-out", cert, "-extensions", "ext", *when, cwd=self.folder)
        return cert, key


def _openssl(*args, cwd: Path) -> None:
    out = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"openssl {args[0]} failed: {out.stderr}"


def make_certificates(folder: Path) -> TestCertificates:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("1000\n")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=Reel test CA", cwd=folder)
    return TestCertificates(folder, folder / "ca.pem")


# --------------------------------------------------------------------------
# The streaming fast path
# --------------------------------------------------------------------------


def fast_answer_count(metrics_text: str) -> int:
    """`reel_http_fast_answers_total` from a /metrics page: /hls requests answered on the fast path."""
    match = re.search(r"^reel_http_fast_answers_total (\d+)", metrics_text, re.M)
    assert match, "reel_http_fast_answers_total is not exported"
    return int(match.group(1))


def router_only(path: str) -> str:
    """The same file, spelled so that only the router answers it: a letter of its name percent-escaped (the
    fast path leaves escapes to the router, which decodes them)."""
    head, _, name = path.rpartition("/")
    for char in ("m", "4", "t"):
        if char in name:
            i = name.rindex(char)
            return f"{head}/{name[:i]}%{ord(char):02X}{name[i + 1:]}"
    raise AssertionError(f"nothing to escape in {name}")

