"""Slowing down clients that keep presenting wrong API keys, without locking out the
right keys of others behind the same address (a proxy, a NAT).

The counts live in the user store, so every API replica sees the same lockouts: a
guesser gains nothing by landing on another replica.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict

from ocr_ray.store import UserStore

# How many characters of a presented key name it to the throttle: past "ocr_", enough
# to tell keys apart, far too few to help a guesser (the key has 43 more).
PREFIX_CHARS = 12
# An address as a whole may fail this many times more than one key prefix may.
_ADDRESS_FACTOR = 10
# A key in use is noted as known at most this often per replica: not a write per call.
_NOTE_SUCCESS_S = 60.0
_PRUNE_EVERY = 256  # failures between sweeps of clients quiet for forget_s


class AuthThrottle:
    """Lockouts after repeated failed authentications, per address and key prefix.

    The first ``allowed`` wrong keys with one prefix from one address cost nothing
    (typos); each later one locks that prefix out at that address for twice as long as
    the one before (1 s, 2 s, 4 s ... up to ``max_lockout_s``). An address that fails
    ten times as often under any prefixes (a guesser making up keys) is locked out as a
    whole, except for the prefixes that have authenticated from it: a valid key in use
    behind the same proxy goes on at once. While a key is locked out it is refused
    before it is looked at. A client quiet for ``forget_s`` starts afresh.
    """

    def __init__(
        self, users: UserStore, *, allowed: int, max_lockout_s: float, forget_s: float = 900.0
    ) -> None:
        self.users, self.allowed, self.max_lockout_s = users, allowed, max_lockout_s
        self.forget_s = forget_s
        self._noted: OrderedDict[str, float] = OrderedDict()  # known pairs noted, and when
        self._failures = itertools.count(1)
        self._lock = threading.Lock()

    def wait_s(self, address: str, key: str) -> float:
        """Seconds ``key`` must wait at ``address`` before it is tried (0: now)."""
        pair, whole, now = _pair(address, key), _address(address), time.time()
        states = self.users.auth_states(clients=[pair, whole])
        mine, theirs = states.get(pair), states.get(whole)
        wait = max(0.0, mine.locked_until - now) if mine else 0.0
        if mine is not None and now - mine.last_success <= self.forget_s:
            return wait  # this key works from here: the address's lockout is not its
        return max(wait, theirs.locked_until - now) if theirs else wait

    def failed(self, address: str, key: str) -> None:
        """Count a wrong ``key`` from ``address``."""
        now = time.time()
        for client, allowed in (
            (_pair(address, key), self.allowed),
            (_address(address), self.allowed * _ADDRESS_FACTOR),
        ):
            failures = self.users.count_auth_failure(client=client, now=now, forget_s=self.forget_s)
            over = failures - allowed
            if over > 0:
                lockout = min(2.0 ** (over - 1), self.max_lockout_s)
                self.users.lock_out(client=client, until=now + lockout)
        if next(self._failures) % _PRUNE_EVERY == 0:  # a flood of made-up addresses
            self.users.forget_auth(before=now - self.forget_s)

    def succeeded(self, address: str, key: str) -> None:
        """Note that ``key``'s prefix authenticated from ``address``."""
        pair, now = _pair(address, key), time.time()
        with self._lock:
            if now - self._noted.get(pair, 0.0) < _NOTE_SUCCESS_S:
                return
            self._noted[pair] = now
            self._noted.move_to_end(pair)
            while len(self._noted) > 10_000:
                self._noted.popitem(last=False)
        self.users.note_auth_success(client=pair, now=now)


def _pair(address: str, key: str) -> str:
    return f"key {address} {key[:PREFIX_CHARS]}"


def _address(address: str) -> str:
    return f"address {address}"
