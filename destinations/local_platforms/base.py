"""What every local platform shares: the reply it gives, the behaviour the control API sets,
what it has seen, and the default failure replies. Its own module so that the platforms and
the server that hosts them import it, and the server imports the platforms, without a cycle."""

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data, **headers) -> "Reply":
        return cls(
            status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers}
        )


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | error | timeout | rate_limit
    count: int | None = None  # requests left in this mode, None: until changed
    status: int = 503
    retry_after: int = 1
    delay: float = 0.0  # seconds added to every answer


class PlatformState:
    """What one platform has seen and how it should behave; safe across server threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.behaviour = Behaviour()
        self.received: list[dict] = []
        self.requests: list[dict] = []

    def take_behaviour(self) -> Behaviour:
        """The behaviour for this request (counting it down)."""
        with self.lock:
            current = self.behaviour
            if current.mode != "ok" and current.count is not None:
                current.count -= 1
                if current.count < 0:
                    self.behaviour = current = Behaviour(delay=current.delay)
            return Behaviour(**vars(current))

    def accept(self, events: list[dict]) -> None:
        with self.lock:
            self.received.extend(events)

    def log(self, entry: dict) -> None:
        with self.lock:
            self.requests.append(entry)


class Platform(Protocol):
    name: str  # the path prefix without slashes: "meta"

    def handle(
        self,
        *,
        method: str,
        path: str,
        query: dict,
        headers: dict,
        body: bytes,
        state: PlatformState,
    ) -> Reply:
        """Answer as the real platform would; call ``state.accept`` with what it accepted."""


def failure(behaviour: Behaviour, platform: str) -> Reply | None:
    """The reply a failing platform gives (None when it should answer normally). Each
    handler may answer its own error body instead; this is the shared default."""
    if behaviour.mode == "timeout":
        time.sleep(30)  # longer than any client timeout
        return Reply.json(504, {"error": "timeout"})
    if behaviour.mode == "error":
        return Reply.json(behaviour.status, {"error": f"{platform} is failing on purpose"})
    if behaviour.mode == "rate_limit":
        return Reply.json(
            429, {"error": "rate limited"}, **{"Retry-After": str(behaviour.retry_after)}
        )
    return None
