"""A server that idle or hostile clients cannot starve, and that a web page cannot use behind the user's back.

Real servers on 127.0.0.1 (configured as ``kforge serve`` configures them), raw sockets for the clients
that misbehave, httpx for the one that behaves.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import subprocess
import time

import httpx
import numpy as np
import pytest
from serve_helpers import TOKEN, running_server

from kerasforge.serve.app import create_app
from kerasforge.serve.guard import Guard, Security
from kerasforge.serve.metrics import Metrics
from kerasforge.serve.server import ConnectionLimits

IMAGE = np.zeros((28, 28)).tolist()
PREDICT = "/v1/models/fashion:predict"


def _closed_by_server(sock: socket.socket, wait: float) -> bool:
    """True when the server closes ``sock`` within ``wait`` seconds (EOF or reset)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_1100_idle_connections_do_not_starve_a_normal_client(registry):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:  # this process holds both ends: 2 x 1,100 sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    limits = ConnectionLimits(header_timeout=60, max_connections=500)
    with running_server(create_app(registry), limits=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = []
        try:
            for _ in range(1100):  # connect and send nothing, as the attack does
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            latencies, errors = [], 0
            with httpx.Client(base_url=url, timeout=10) as client:
                for _ in range(100):
                    start = time.perf_counter()
                    try:
                        response = client.post(PREDICT, json={"instances": [IMAGE]})
                        errors += response.status_code != 200
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - start)
            print(f"\n1,100 idle connections held: 100 predictions, {errors} errors, "
                  f"p50 {np.percentile(latencies, 50) * 1000:.1f} ms, p99 {np.percentile(latencies, 99) * 1000:.1f} ms "
                  "(shared machine)")
            assert errors == 0
            closed = sum(_closed_by_server(s, 0.01) for s in idle)
            assert closed >= 1100 - 500  # the cap closed the longest-idle ones to make room
        finally:
            for sock in idle:
                sock.close()


def test_header_timeout_closes_silent_and_slow_connections(registry):
    with running_server(create_app(registry), limits=ConnectionLimits(header_timeout=0.5)) as url:
        port = int(url.rsplit(":", 1)[1])
        silent = socket.create_connection(("127.0.0.1", port))
        slow = socket.create_connection(("127.0.0.1", port))
        start, cut = time.monotonic(), False
        for ch in b"POST /v1/models/fashion:predict HTTP/1.1\r\nHost: x\r\n" * 10:  # headers a byte at a time
            try:
                slow.sendall(bytes([ch]))
            except ConnectionError:
                cut = True
                break
            time.sleep(0.02)
        assert cut or _closed_by_server(slow, 5)
        assert time.monotonic() - start < 5
        assert _closed_by_server(silent, 5)
        assert httpx.get(url + "/healthz").status_code == 200


def _raw_request(port: int, head: bytes, body: bytes = b"", wait: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(head + body)
        return sock.recv(65536)


def test_body_timeout_and_token_checked_before_the_body(registry):
    app = create_app(registry, token=TOKEN, security=Security(body_timeout=0.5))
    with running_server(app) as url:
        port = int(url.rsplit(":", 1)[1])
        start = time.monotonic()
        reply = _raw_request(port, b"POST /v1/models/fashion:predict HTTP/1.1\r\nHost: localhost\r\n"
                                   b"Content-Type: application/json\r\nContent-Length: 500000\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 401") and time.monotonic() - start < 5  # no body was waited for
        reply = _raw_request(port, f"POST /v1/models/fashion:predict HTTP/1.1\r\nHost: localhost\r\n"
                                   f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                                   f"Content-Length: 500\r\n\r\n".encode(), b'{"instances": ')
        assert reply.startswith(b"HTTP/1.1 408") and b"did not arrive" in reply


def test_content_types_origins_and_hosts(registry):
    app = create_app(registry, security=Security.for_host("127.0.0.1"))
    with running_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        body = '{"instances": [' + str(IMAGE) + "]}"
        assert c.post(PREDICT, content=body, headers={"content-type": "application/json"}).status_code == 200
        refused = c.post(PREDICT, content=body, headers={"content-type": "text/plain"})
        assert refused.status_code == 415 and "application/json" in refused.json()["error"]
        assert c.post(PREDICT, content=body).status_code == 200  # no type at all: requests' data=
        form = {"content-type": "application/x-www-form-urlencoded"}
        assert c.post(PREDICT, content=body, headers=form).status_code == 200  # curl -d
        same_origin = {**form, "origin": url}
        assert c.post(PREDICT, content=body, headers=same_origin).status_code == 415  # a browser form post
        cross = c.post(PREDICT, content=body, headers={"content-type": "application/json",
                                                       "origin": "https://evil.example"})
        assert cross.status_code == 403 and "--cors-origins" in cross.json()["error"]
        assert "access-control-allow-origin" not in cross.headers  # CORS is off
        rebinding = c.get("/v1/models", headers={"host": "evil.example:8000"})
        assert rebinding.status_code == 400 and "--allowed-hosts" in rebinding.json()["error"]
        assert c.get("/v1/models", headers={"host": "localhost:8000"}).status_code == 200
    assert Security.for_host("0.0.0.0").allowed_hosts is None
    assert Security.for_host("127.0.0.1", ["models.example"]).allowed_hosts == ("models.example",)


def test_cors_only_for_configured_origins(registry):
    app = create_app(registry, security=Security(cors_origins=("https://app.example",)))
    with running_server(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        preflight = c.options(PREDICT, headers={"origin": "https://app.example", "access-control-request-method":
                                                "POST", "access-control-request-headers": "content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        ok = c.post(PREDICT, json={"instances": [IMAGE]}, headers={"origin": "https://app.example"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
        other = c.post(PREDICT, json={"instances": [IMAGE]}, headers={"origin": "https://other.example"})
        assert other.status_code == 403


def test_each_client_has_a_cap_on_requests_in_flight():
    release = asyncio.Event()

    async def slow_app(scope, receive, send):  # holds every request until released
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guard = Guard(slow_app, token=None, max_request_bytes=1000, metrics=Metrics(),
                  security=Security(max_client_requests=2))

    async def call(client: str) -> int:
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/healthz", "headers": [], "client": (client, 1)}
        await guard(scope, receive, send)
        return sent[0]["status"]

    async def scenario():
        tasks = [asyncio.create_task(call("10.0.0.1")) for _ in range(3)] + [asyncio.create_task(call("10.0.0.2"))]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(*tasks)

    statuses = asyncio.run(scenario())
    assert sorted(statuses[:3]) == [200, 200, 429] and statuses[3] == 200


def test_tls_and_secure_cookie(registry, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    app = create_app(registry, token=TOKEN, security=Security(secure_cookies=True))
    with running_server(app, tls=(str(cert), str(key))) as url:
        assert url.startswith("https://")
        with httpx.Client(base_url=url, verify=str(cert), timeout=30) as c:
            login = c.get(f"/?token={TOKEN}", headers={"host": "localhost"})
            cookie = login.headers["set-cookie"]
            assert login.status_code == 303 and "Secure" in cookie and "HttpOnly" in cookie
            assert c.get("/v1/models", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_no_server_paths_in_public_responses(client, runs):
    for path in ("/v1/models", "/v1/models/fashion", "/v1/models/fashion/metadata", "/v1/models/nope",
                 "/v1/models/fashion_keras/metadata"):
        text = client.get(path).text
        assert str(runs["fashion"].parent) not in text and "/tmp/" not in text, path


@pytest.mark.parametrize("bad", [["--max-connections", "0"], ["--tls-cert", "x.pem"]])
def test_serve_flags_are_checked(runs, bad):
    from kerasforge.cli import main

    assert main(["serve", str(runs["fashion_onnx"]), *bad]) == 2
    assert main(["serve"]) == 2  # nothing to serve
