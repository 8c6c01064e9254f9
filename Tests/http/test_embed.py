"""The embeddable player (/embed/{id}), who may frame Reel's pages (Content-Security-Policy
frame-ancestors), and oEmbed (/oembed) for public videos (docs/HTTP.md, "Embedding")."""

from __future__ import annotations

import subprocess
import urllib.parse

import pytest
import requests

from reel_http_support import REPO_ROOT, assert_problem, component_schema, free_port, reel_env, start_and_wait, validate_json


def _oembed(reel, page_url: str, **params) -> requests.Response:
    return requests.get(reel.url("/oembed"), params={"url": page_url, **params}, timeout=10)


def test_embed_page_may_be_framed_anywhere_and_the_others_only_by_reel(reel, landscape):
    embed = requests.get(reel.url(f"/embed/{landscape['id']}"), timeout=10)
    assert embed.status_code == 200 and embed.headers["Content-Type"].startswith("text/html")
    assert embed.headers["Content-Security-Policy"] == "frame-ancestors *"
    assert '<video id="player"' in embed.text
    for path in ("/", "/upload", f"/watch/{landscape['id']}"):
        r = requests.get(reel.url(path), timeout=10)
        assert r.status_code == 200, path
        assert r.headers["Content-Security-Policy"] == "frame-ancestors 'self'", path
    css = requests.get(reel.url("/assets/app.css"), timeout=10)
    assert css.status_code == 200 and "Content-Security-Policy" not in css.headers


def test_watch_and_embed_pages_announce_their_oembed(reel, landscape):
    for page in ("watch", "embed"):
        r = requests.get(reel.url(f"/{page}/{landscape['id']}"), timeout=10)
        link = requests.utils.parse_header_links(r.headers["Link"])[0]
        assert link["rel"] == "alternate" and link["type"] == "application/json+oembed", link
        found = requests.get(reel.url(link["url"]), timeout=10)
        assert found.status_code == 200, found.text
        assert found.json()["html"].count(f"/embed/{landscape['id']}") == 1


def test_oembed_describes_a_public_video(reel, landscape):
    vid = landscape["id"]
    r = _oembed(reel, f"{reel.base}/watch/{vid}")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    o = r.json()
    validate_json(o, component_schema("OEmbed"), "oEmbed")
    assert o["version"] == "1.0" and o["type"] == "video" and o["provider_name"] == "Reel"
    assert o["provider_url"] == f"{reel.base}/" and o["title"] == "Landscape"
    videos = [x for x in landscape["renditions"] if x["kind"] == "video"]
    top = max(videos, key=lambda x: x["width"] * x["height"])
    assert (o["width"], o["height"]) == (top["width"], top["height"])
    assert f'src="{reel.base}/embed/{vid}"' in o["html"] and o["html"].startswith("<iframe ")
    assert f'width="{top["width"]}" height="{top["height"]}"' in o["html"]
    thumb = requests.get(o["thumbnail_url"], timeout=10)
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    assert o["thumbnail_width"] > 0 and o["thumbnail_height"] > 0
    # The embed page's own address gives the same answer.
    assert _oembed(reel, f"{reel.base}/embed/{vid}").json() == o
    # A consumer's bounds keep the picture's shape.
    small = _oembed(reel, f"{reel.base}/watch/{vid}", maxwidth="200").json()
    assert small["width"] == 200 and small["height"] == (top["height"] * 200) // top["width"]
    boxed = _oembed(reel, f"{reel.base}/watch/{vid}", maxwidth="1000", maxheight="90").json()
    assert boxed["height"] == 90 and boxed["width"] <= 1000


def test_oembed_escapes_the_title(reel):
    r = reel.put_video("landscape.mp4", title='A"quoted"<b>title</b>&more')
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    o = _oembed(reel, f"{reel.base}/watch/{vid}").json()
    assert 'title="A&quot;quoted&quot;&lt;b&gt;title&lt;/b&gt;&amp;more"' in o["html"], o["html"]
    assert "<b>" not in o["html"]


def test_oembed_refusals(reel, landscape, private_video):
    vid = landscape["id"]
    # A private video is not found, exactly as an unknown id: oEmbed has no key to show it with.
    private = _oembed(reel, f"{reel.base}/watch/{private_video['id']}")
    unknown = _oembed(reel, f"{reel.base}/watch/00000000-0000-0000-0000-000000000000")
    assert_problem(private, 404)
    assert_problem(unknown, 404)
    assert private.json()["title"] == unknown.json()["title"]
    assert_problem(_oembed(reel, f"{reel.base}/watch/{vid}", format="xml"), 501)
    assert_problem(requests.get(reel.url("/oembed"), timeout=10), 400)
    for url in (f"http://elsewhere.example/watch/{vid}", f"{reel.base}/hls/{vid}/master.m3u8",
                f"{reel.base}/watch/../watch/{vid}", f"{reel.base}/watch/{vid}/more", "ftp://127.0.0.1/watch/x",
                "not a url at all"):
        r = _oembed(reel, url)
        assert r.status_code in (400, 404), f"{url}: {r.status_code} {r.text[:200]}"
        assert_problem(r, r.status_code)
    for bad in ("0", "-5", "wide", "1e9"):
        assert_problem(_oembed(reel, f"{reel.base}/watch/{vid}", maxwidth=bad), 400)


def test_embed_frame_ancestors_setting(reel_bin, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    sources = "'self'   https://blog.example https://*.cms.example:8443"
    proc = start_and_wait([str(reel_bin), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)],
                          tmp_path / "serve.log", port, reel_env(REEL_EMBED_FRAME_ANCESTORS=sources))
    try:
        r = requests.get(f"http://127.0.0.1:{port}/embed/some-id", timeout=10)
        assert r.headers["Content-Security-Policy"] == "frame-ancestors 'self' https://blog.example https://*.cms.example:8443"
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("value", ["https://a.example; script-src *", "https://a.example, https://b.example",
                                   "'none' https://a.example", "'unsafe-inline'", "https://a.example\r\nX-Evil: 1",
                                   "https://exa mple.com/\"x"])
def test_bad_embed_frame_ancestors_is_refused_at_start(reel_bin, tmp_path, value):
    proc = subprocess.run([str(reel_bin), "serve", "--port", str(free_port()), "--data", str(tmp_path),
                           "--embed-frame-ancestors", value], capture_output=True, text=True, timeout=60,
                          cwd=REPO_ROOT, env=reel_env())
    assert proc.returncode != 0, f"{value!r} was accepted:\n{proc.stdout}{proc.stderr}"
    assert "embed_frame_ancestors" in proc.stderr, proc.stderr
