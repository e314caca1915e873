"""Which callback URLs a job may give: hosts on the operator's allowlist only.

A URL's host must be on ``OCR_RAY_CALLBACK_HOSTS``, and every address its name
resolves to must be public or itself on the list: a listed name that resolves to
loopback, a private or a link-local address is refused, so a name cannot smuggle in an
address the operator did not allow. The check runs at submit and again before every
delivery, which connects to the very address it vetted (a name that resolves elsewhere
by then is checked anew), and never follows a redirect.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from ocr_ray.exceptions import UsageError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class CallbackRefused(UsageError):
    """A callback URL this server will not send to."""


@dataclass(frozen=True)
class Allowed:
    """One allowlist entry: a host name or an address, on any port or on one."""

    host: str
    port: int | None = None

    def admits(self, host: str, port: int) -> bool:
        return self.host == host and self.port in (None, port)


@dataclass(frozen=True)
class Target:
    """A vetted callback: where to connect, and what to ask for there."""

    scheme: str
    host: str  # as the URL names it (the Host header, the TLS server name)
    port: int
    path: str  # with its query
    address: str  # the vetted address to connect to


def parse_hosts(text: str) -> list[Allowed]:
    """The entries of a comma list such as ``hooks.example.com, 10.0.0.5:8080, [::1]:9``."""
    entries = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        split = urlsplit(f"//{item}")
        try:
            port = split.port
        except ValueError as exc:
            raise UsageError(f"OCR_RAY_CALLBACK_HOSTS: bad port in {item!r}") from exc
        if not split.hostname:
            raise UsageError(f"OCR_RAY_CALLBACK_HOSTS: no host in {item!r}")
        entries.append(Allowed(_normal(split.hostname), port))
    return entries


def vet(url: str, allowed: list[Allowed]) -> Target:
    """The target ``url`` names, if this server may send to it; ``CallbackRefused``
    saying why not otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise CallbackRefused("callback_url must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise CallbackRefused("callback_url may not carry a user name or password")
    if not parts.hostname:
        raise CallbackRefused("callback_url has no host")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise CallbackRefused("callback_url has a bad port") from exc
    host = _normal(parts.hostname)
    if not allowed:
        raise CallbackRefused(
            "callback_url: this server sends no callbacks (OCR_RAY_CALLBACK_HOSTS is empty)"
        )
    if not any(entry.admits(host, port) for entry in allowed):
        raise CallbackRefused(f"callback_url host {host}:{port} is not on this server's allowlist")
    path = parts.path or "/"
    return Target(
        parts.scheme,
        parts.hostname,
        port,
        f"{path}?{parts.query}" if parts.query else path,
        _vetted_address(host, port, allowed),
    )


def _vetted_address(host: str, port: int, allowed: list[Allowed]) -> str:
    """The first address ``host`` resolves to, once each of them has passed."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CallbackRefused(f"callback_url host {host} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(_normal(str(info[4][0])) for info in found))
    for address in addresses:
        ip = ipaddress.ip_address(address)
        internal = not ip.is_global or ip.is_multicast
        if internal and not any(entry.admits(address, port) for entry in allowed):
            raise CallbackRefused(
                f"callback_url host {host} resolves to {address}, an internal address "
                "that is not on this server's allowlist"
            )
    if not addresses:
        raise CallbackRefused(f"callback_url host {host} has no address")
    return addresses[0]


def _normal(host: str) -> str:
    """One spelling per host: lower case, and addresses in their short form (an IPv4
    address mapped into IPv6 as the IPv4 one)."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)
