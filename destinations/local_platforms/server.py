"""One HTTP server hosting every local platform under its own path prefix.

    /meta/…      Meta Conversions API        (destinations/local_platforms/meta.py)
    /tiktok/…    TikTok Events API           (tiktok.py)
    /ga4/…       GA4 Measurement Protocol    (ga4.py)
    /webhook/…   a webhook receiver that verifies signatures (webhook.py)

Control API (JSON), for tests and demos:

    POST /__control/<platform>  {"mode": "ok" | "error" | "timeout" | "rate_limit",
                                 "count": N (then back to ok; omit for "until changed"),
                                 "status": 503, "retry_after": 2, "delay": 0.0}
    GET  /__received/<platform> the events accepted so far, as the handler parsed them
    GET  /__requests/<platform> every request seen: path, status answered, event count
    POST /__reset               forget everything, every platform back to "ok"

``python -m destinations.local_platforms.server --port 9100`` runs it; tests use
``LocalPlatforms`` (a context manager serving on a free port in a thread).
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from destinations.local_platforms import ga4, meta, tiktok, webhook
from destinations.local_platforms.base import Behaviour, Platform, PlatformState, Reply


def _platforms() -> dict[str, Platform]:
    found = {}
    for module in (meta, tiktok, ga4, webhook):
        platform = module.PLATFORM
        found[platform.name] = platform
    return found


class _Handler(BaseHTTPRequestHandler):
    server_version = "TrackLayerLocalPlatforms/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            headers = {"Content-Length": str(len(reply.body)), **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a "timeout" platform): nothing left to answer

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        owner: LocalPlatformsServer = self.server  # type: ignore[assignment]
        url = urlsplit(self.path)
        body = self._body()
        parts = url.path.strip("/").split("/", 1)
        if parts[0] == "__reset":
            owner.reset()
            return self._send(Reply.json(200, {"ok": True}))
        if parts[0] in {"__control", "__received", "__requests"} and len(parts) == 2:
            state = owner.states.get(parts[1])
            if state is None:
                return self._send(Reply.json(404, {"error": "no such platform"}))
            if parts[0] == "__control":
                with state.lock:
                    state.behaviour = Behaviour(**json.loads(body or b"{}"))
                return self._send(Reply.json(200, vars(state.behaviour)))
            with state.lock:
                items = list(state.received if parts[0] == "__received" else state.requests)
            return self._send(Reply.json(200, items))
        platform = owner.platforms.get(parts[0])
        if platform is None:
            return self._send(Reply.json(404, {"error": "unknown platform"}))
        state = owner.states[parts[0]]
        if state.behaviour.delay:
            time.sleep(state.behaviour.delay)  # a slow platform, whatever its mode
        rest = "/" + (parts[1] if len(parts) > 1 else "")
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = platform.handle(
            method=method,
            path=rest,
            query={k: v[-1] for k, v in parse_qs(url.query).items()},
            headers=headers,
            body=body,
            state=state,
        )
        state.log({"method": method, "path": rest, "status": reply.status, "bytes": len(body)})
        self._send(reply)


class LocalPlatformsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address):
        super().__init__(address, _Handler)
        self.platforms = _platforms()
        self.states = {name: PlatformState() for name in self.platforms}

    def reset(self) -> None:
        for state in self.states.values():
            with state.lock:
                state.behaviour = Behaviour()
                state.received.clear()
                state.requests.clear()


class LocalPlatforms:
    """``with LocalPlatforms() as platforms: platforms.url`` — serving in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.server = LocalPlatformsServer((host, port))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def state(self, platform: str) -> PlatformState:
        return self.server.states[platform]

    def behave(self, platform: str, **behaviour) -> None:
        state = self.state(platform)
        with state.lock:
            state.behaviour = Behaviour(**behaviour)

    def received(self, platform: str) -> list[dict]:
        state = self.state(platform)
        with state.lock:
            return list(state.received)

    def __enter__(self) -> "LocalPlatforms":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    server = LocalPlatformsServer((args.host, args.port))
    print(f"local platforms on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
