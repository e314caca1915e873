"""``ocr-ray keys`` and ``ocr-ray audit``: managing API users on the store's machine."""

from __future__ import annotations

import argparse
import getpass
import json
import time

from ocr_ray.exceptions import ExitCode, UsageError
from ocr_ray.store import AuditEntry, UserStore, open_user_store
from serve.keys import create_key


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``keys`` and ``audit`` (an ``ocr_ray.commands`` entry point)."""
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser(
        "create", help="make a key and its webhook secret; printed once, the key last"
    )
    create.add_argument("name", help="the key's user: 1-64 letters, digits, '_.@-'")
    create.add_argument("--admin", action="store_true", help="may see every user's jobs")
    create.add_argument(
        "--max-running-jobs",
        type=int,
        metavar="N",
        help="this user's limit (default: OCR_RAY_USER_MAX_RUNNING_JOBS; 0: none)",
    )
    create.set_defaults(handler=cmd_create)
    listing = actions.add_parser("list", help="every key's user and state")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)
    revoke = actions.add_parser("revoke", help="revoke a user's key (effective at once)")
    revoke.add_argument("name")
    revoke.set_defaults(handler=cmd_revoke)
    audit = commands.add_parser("audit", help="who submitted, cancelled, downloaded what")
    audit.add_argument("--user")
    audit.add_argument("--job", dest="job_id")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.set_defaults(handler=cmd_audit)


def cmd_create(args: argparse.Namespace) -> int:
    """Print the new key's webhook secret, then the key alone on the last line."""
    store = open_user_store(args.store)
    if args.max_running_jobs is not None and args.max_running_jobs < 0:
        raise UsageError("--max-running-jobs must be 0 (no limit) or more")
    made = create_key(store, args.name, admin=args.admin, max_running=args.max_running_jobs)
    _audit(store, "key_create", f"{args.name}{' (admin)' if args.admin else ''}")
    print(f"webhook secret (signs {args.name}'s job callbacks): {made.webhook_secret}")
    print(f"API key for {args.name}{' (admin)' if args.admin else ''}; neither is shown again:")
    print(made.key)
    return ExitCode.ok


def cmd_list(args: argparse.Namespace) -> int:
    """One line per key, revoked ones included."""
    for key in open_user_store(args.store).list_keys():
        if args.json:
            print(json.dumps({k: v for k, v in vars(key).items() if k != "key_hash"}))
            continue
        state = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "live"
        role = "admin" if key.admin else "user"
        print(f"{key.name}\t{role}\tcreated {_when(key.created_at)}\t{state}")
    return ExitCode.ok


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke at once: the running API checks the store on every request."""
    store = open_user_store(args.store)
    if not store.revoke_key(name=args.name):
        raise UsageError(f"{args.name!r} has no live key")
    _audit(store, "key_revoke", args.name)
    print(f"revoked the key of {args.name}")
    return ExitCode.ok


def cmd_audit(args: argparse.Namespace) -> int:
    """The audit trail, newest first."""
    entries = open_user_store(args.store).list_audit(
        limit=args.limit, user=args.user, job_id=args.job_id
    )
    for e in entries:
        if args.json:
            print(json.dumps(vars(e)))
        else:
            print(f"{_when(e.at)}\t{e.user}\t{e.action}\t{e.job_id or '-'}\t{e.detail}")
    return ExitCode.ok


def _audit(store: UserStore, action: str, detail: str) -> None:
    """Key changes are made on the server's machine: the actor is its local user."""
    store.add_audit(AuditEntry(time.time(), f"cli:{getpass.getuser()}", action, None, detail))


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
