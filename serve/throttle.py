"""Slowing down clients that keep presenting wrong API keys, without locking out the
right keys of others behind the same address (a proxy, a NAT)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

# How many characters of a presented key name it to the throttle: past "ocr_", enough
# to tell keys apart, far too few to help a guesser (the key has 43 more).
PREFIX_CHARS = 12
# An address as a whole may fail this many times more than one key prefix may.
_ADDRESS_FACTOR = 10


@dataclass
class _Client:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


class _Lockouts:
    """Doubling lockouts per key, after ``allowed`` free failures."""

    def __init__(self, allowed: int, max_lockout_s: float, forget_s: float, size: int) -> None:
        self.allowed, self.max_lockout_s, self.forget_s, self.size = (
            allowed,
            max_lockout_s,
            forget_s,
            size,
        )
        self._clients: OrderedDict[object, _Client] = OrderedDict()

    def wait_s(self, key: object, now: float) -> float:
        client = self._clients.get(key)
        return max(0.0, client.locked_until - now) if client else 0.0

    def failed(self, key: object, now: float) -> None:
        client = self._clients.get(key)
        if client is None or now - client.last_failure > self.forget_s:
            client = self._clients[key] = _Client()
            while len(self._clients) > self.size:  # a flood: forget the oldest first
                self._clients.popitem(last=False)
        client.failures += 1
        client.last_failure = now
        over = client.failures - self.allowed
        if over > 0:
            client.locked_until = now + min(2.0 ** (over - 1), self.max_lockout_s)


class AuthThrottle:
    """Lockouts after repeated failed authentications, per address and key prefix.

    The first ``allowed`` wrong keys with one prefix from one address cost nothing
    (typos); each later one locks that prefix out at that address for twice as long as
    the one before (1 s, 2 s, 4 s ... up to ``max_lockout_s``). An address that fails
    ten times as often under any prefixes (a guesser making up keys) is locked out as a
    whole, except for the prefixes that have authenticated from it: a valid key in use
    behind the same proxy goes on at once. While a key is locked out it is refused
    before it is looked at. An entry quiet for ``forget_s`` starts afresh; state is per
    API replica and bounded by ``max_clients``.
    """

    def __init__(
        self,
        *,
        allowed: int,
        max_lockout_s: float,
        forget_s: float = 900.0,
        max_clients: int = 10_000,
    ) -> None:
        self._pairs = _Lockouts(allowed, max_lockout_s, forget_s, max_clients)
        wide = allowed * _ADDRESS_FACTOR
        self._addresses = _Lockouts(wide, max_lockout_s, forget_s, max_clients)
        self._known: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.forget_s, self.max_clients = forget_s, max_clients
        self._lock = threading.Lock()

    def wait_s(self, address: str, key: str) -> float:
        """Seconds ``key`` must wait at ``address`` before it is tried (0: now)."""
        pair, now = (address, key[:PREFIX_CHARS]), time.time()
        with self._lock:
            wait = self._pairs.wait_s(pair, now)
            known = now - self._known.get(pair, -self.forget_s - 1) <= self.forget_s
            return wait if known else max(wait, self._addresses.wait_s(address, now))

    def failed(self, address: str, key: str) -> None:
        """Count a wrong ``key`` from ``address``."""
        now = time.time()
        with self._lock:
            self._pairs.failed((address, key[:PREFIX_CHARS]), now)
            self._addresses.failed(address, now)

    def succeeded(self, address: str, key: str) -> None:
        """Note that ``key``'s prefix authenticated from ``address``."""
        pair = (address, key[:PREFIX_CHARS])
        with self._lock:
            self._known[pair] = time.time()
            self._known.move_to_end(pair)
            while len(self._known) > self.max_clients:
                self._known.popitem(last=False)
