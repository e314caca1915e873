"""Slowing down clients that keep presenting wrong API keys."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class _Client:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class AuthThrottle:
    """Per-address lockouts after repeated failed authentications.

    The first ``allowed`` failures cost nothing (typos). Each later one locks the address
    out for twice as long as the one before (1 s, 2 s, 4 s ... up to ``max_lockout_s``).
    While locked out, every request from it is refused before its key is looked at, so
    a right guess cannot be told from a wrong one and guessing runs no faster than the
    lockouts allow. An address quiet for ``forget_s`` starts afresh. State is per API
    replica and holds at most ``max_clients`` addresses.
    """

    def __init__(
        self,
        *,
        allowed: int,
        max_lockout_s: float,
        forget_s: float = 900.0,
        max_clients: int = 10_000,
    ) -> None:
        self.allowed, self.max_lockout_s = allowed, max_lockout_s
        self.forget_s, self.max_clients = forget_s, max_clients
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """Seconds ``address`` must wait before it may try a key again (0: now)."""
        with self._lock:
            client = self._clients.get(address)
            return max(0.0, client.locked_until - time.time()) if client else 0.0

    def failed(self, address: str) -> None:
        """Count a wrong key from ``address``."""
        now = time.time()
        with self._lock:
            client = self._clients.get(address)
            if client is None or now - client.last_failure > self.forget_s:
                client = self._clients[address] = _Client()
                self._prune(now)
            client.failures += 1
            client.last_failure = now
            over = client.failures - self.allowed
            if over > 0:
                client.locked_until = now + min(2.0 ** (over - 1), self.max_lockout_s)

    def _prune(self, now: float) -> None:
        if len(self._clients) <= self.max_clients:
            return
        for address, client in list(self._clients.items()):
            if now - client.last_failure > self.forget_s:
                del self._clients[address]
        while len(self._clients) > self.max_clients:  # a flood: forget the oldest first
            del self._clients[next(iter(self._clients))]
