"""The ``ocr-ray`` command line."""

from __future__ import annotations

import argparse
import sys
import time
import webbrowser
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ocr_ray._cli_components import add_component_commands
from ocr_ray.exceptions import ExitCode, OcrRayError, UsageError
from ocr_ray.formats import parse_formats
from ocr_ray.job import narration
from ocr_ray.job.handle import Job, get_job, resume, submit
from ocr_ray.job.plan import DEFAULT_PAGES_PER_CORE_S, Plan, Rate, measured_rate, parse_duration
from ocr_ray.job.progress import progress_of
from ocr_ray.job.ray_init import auth_token_path, find_dashboard, start_local, stop_local
from ocr_ray.models import FileStatus, JobStatus, JobSummary, PageSource, Progress
from ocr_ray.params import FromSetting, JobParams, Option, user_options
from ocr_ray.plugins import registry
from ocr_ray.store import open_store

EPILOG = """\
exit codes:
  0    every file succeeded (or was skipped as not an image/PDF)
  1    the job completed but some files failed (see results.csv / summary.json)
  2    usage or input error: bad option, missing input folder, unknown language
       or provider, unknown job id; nothing was processed
  3    internal error
  4    the job was cancelled
  6    the results could not be written (disk full, quota, read-only); every record
       is kept: free space, then ocr-ray run --resume JOB_ID --out DIR, or export
  7    the job store (MongoDB) did not answer; a running job waits for it
  130  interrupted (Ctrl-C); continue with: ocr-ray run --resume JOB_ID --out DIR
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ocr-ray",
        description="Distributed bulk OCR on Ray.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--store", help="job store URL (default: OCR_RAY_STORE_URL or SQLite)")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run(commands)
    status = commands.add_parser("status", help="show a job's progress")
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true", help="the progress as JSON")
    jobs = commands.add_parser("jobs", help="list recent jobs")
    jobs.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    failures = commands.add_parser("failures", help="list a job's failed files")
    failures.add_argument("job_id")
    export = commands.add_parser("export", help="write a job's result files")
    export.add_argument("job_id")
    export.add_argument("--out", required=True, type=Path)
    export.add_argument("--formats", help="comma list (default: the job's own formats)")
    cancel = commands.add_parser("cancel", help="cancel a running job")
    cancel.add_argument("job_id")
    _add_plan(commands)
    up = commands.add_parser("up", help="start a local Ray that later runs reuse")
    up.add_argument("--cpus", type=int, help="CPUs it offers (default: all)")
    up.add_argument(
        "--no-dashboard", dest="dashboard", action="store_false", help="without Ray's dashboard"
    )
    commands.add_parser("down", help="stop the local Ray that 'up' started")
    dashboard = commands.add_parser("dashboard", help="where Ray's dashboard is, and its token")
    dashboard.add_argument("--address", help="Ray address (default: the Ray running here)")
    dashboard.add_argument("--open", action="store_true", help="open it in a browser too")
    add_component_commands(commands)
    return parser


def _add_plan(commands: argparse._SubParsersAction) -> None:
    plan = commands.add_parser("plan", help="the cores and workers N pages need in a time")
    plan.add_argument("--pages", type=int, required=True, help="pages to read")
    plan.add_argument("--within", default="7d", help="time allowed: 7d, 36h, 2w (default 7d)")
    plan.add_argument("--files", type=int, help="documents, for the coordinator's pace")
    plan.add_argument(
        "--rate",
        type=float,
        help="pages/s per core (default: the newest finished job in the store, which "
        f"records its cluster's CPUs; else {DEFAULT_PAGES_PER_CORE_S}, measured here)",
    )
    plan.add_argument("--cores-per-worker", type=int, default=16)
    plan.add_argument("--utilisation", type=float, default=0.8, help="busy share to plan for")


def _add_run(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="OCR files and folders",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("paths", nargs="*", help="files and folders (not needed with --resume)")
    run.add_argument("--out", required=True, type=Path, help="folder for results and summary")
    add_job_options(run)
    run.add_argument("--address", help="Ray address: auto or ray://host:10001 (default: local)")
    run.add_argument("--resume", metavar="JOB_ID", help="continue an interrupted job")
    run.add_argument("--job-id", help="id for a new job (re-running with it resumes)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or start-up messages")
    run.add_argument("--verbose", action="store_true", help="Ray's own start-up messages too")


def add_job_options(parser: argparse.ArgumentParser, model: type[BaseModel] = JobParams) -> None:
    """One option per job parameter, from its declaration (``ocr_ray.params``).

    Every option defaults to None (not given), so the declaration's own default, or the
    operator's setting, applies.
    """
    group = parser.add_argument_group("job options")
    for name, (info, option) in user_options(model, api=False).items():
        flag = option.flag or "--" + name.replace("_", "-")
        if info.annotation is bool:
            on = info.default is not True  # a flag turns on what is off by default
            flag = flag if on else "--no-" + flag.removeprefix("--")
            text = (
                f"{info.description} (default: off)"
                if on
                else f"turn off (default: on): {info.description}"
            )
            group.add_argument(flag, dest=name, action="store_const", const=on, help=text)
        else:
            choices = get_args(info.annotation) if get_origin(info.annotation) is Literal else None
            metavar = "|".join(choices) if choices else name.upper().removesuffix("_S")
            group.add_argument(
                flag, dest=name, metavar=metavar, choices=choices, help=_help(info, option)
            )


def _help(info: FieldInfo, option: Option) -> str:
    text = str(info.description)
    if option.plugins:  # names only: nothing is imported to print the help
        text += f"; installed: {', '.join(registry.entries(option.plugins))}"
    if isinstance(info.default_factory, FromSetting):
        return f"{text} (default: {info.default_factory})"
    if info.default_factory is not None:  # computed from plugins: its text says how
        return text
    default = info.default
    return f"{text} (default: {'+'.join(default) if isinstance(default, list) else default})"


def job_options(args: argparse.Namespace, model: type[BaseModel] = JobParams) -> dict[str, Any]:
    """The job options given on the command line (the rest are left to their defaults)."""
    return {
        name: getattr(args, name)
        for name in user_options(model, api=False)
        if getattr(args, name) is not None
    }


def cmd_run(args: argparse.Namespace) -> int:
    """OCR the inputs, write the results, and return the exit code."""
    if args.resume:
        job = resume(args.resume, address=args.address, store=args.store)
    elif not args.paths:
        raise UsageError("give at least one file or folder, or --resume JOB_ID")
    else:
        job = submit(
            args.paths,
            address=args.address,
            out_dir=args.out,
            job_id=args.job_id,
            store=args.store,
            **job_options(args),
        )
    print(f"job {job.id}", file=sys.stderr)
    try:
        summary = job.wait(progress=not args.quiet)
    except KeyboardInterrupt:
        job.stop()
        print(
            f"\ninterrupted; continue with: ocr-ray run --resume {job.id} --out {args.out}",
            file=sys.stderr,
        )
        return ExitCode.interrupted
    written = job.export(args.out)
    _print_summary(summary, args.out, written)
    _stop_ray()
    return _exit_code(summary)


def _stop_ray() -> None:
    """Stop a Ray this process started now, rather than in atexit (which sleeps first)."""
    import ray

    ray.shutdown()


def _exit_code(summary: JobSummary) -> int:
    if summary.status is JobStatus.cancelled:
        return ExitCode.cancelled
    if summary.status is JobStatus.interrupted:
        return ExitCode.interrupted
    if summary.status is not JobStatus.completed:
        return ExitCode.internal
    return ExitCode.files_failed if summary.failed else ExitCode.ok


def _print_summary(summary: JobSummary, out: Path, written: dict[str, Path]) -> None:
    confidence = summary.average_confidence
    print(
        f"{summary.status.value}: {summary.total_files} files, {summary.succeeded} succeeded, "
        f"{summary.failed} failed, {summary.skipped} skipped; {summary.pages} pages "
        f"({summary.review_pages} to review), "
        f"{summary.total_characters} characters in {summary.elapsed_s:.1f} s "
        f"({summary.pages_per_second:.2f} pages/s), mean confidence "
        f"{'-' if confidence is None else f'{confidence:.1f}'}"
    )
    paths = summary.pages_by_source
    if summary.pages and paths.get(PageSource.ocr.value) != summary.pages:
        print("  pages by path: " + ", ".join(f"{n} {path}" for path, n in paths.items() if n))
    for code, count in summary.failures_by_code.items():
        print(f"  failed with {code}: {count}")
    for failure in summary.failed_files:
        print(f"  failed: {failure.path}: {failure.code}: {failure.message}")
    if summary.failed > len(summary.failed_files):
        unlisted = summary.failed - len(summary.failed_files)
        print(f"  and {unlisted} more: see results.csv, or ocr-ray failures {summary.job_id}")
    for code, count in summary.warnings_by_code.items():
        print(f"  pages with {code}: {count}")
    print(f"report: {written['summary']}")
    print(f"results in {out}: {', '.join(sorted(p.name for p in written.values()))}")


def cmd_status(args: argparse.Namespace) -> int:
    """Print a job's progress: for a person, or as JSON."""
    job = get_job(args.job_id, store=args.store)
    progress = job.progress()
    if args.json:
        print(progress.model_dump_json(indent=2))
    else:
        print("\n".join(status_lines(progress, job.params)))
    return ExitCode.ok


def status_lines(progress: Progress, params: JobParams) -> list[str]:
    """What ``ocr-ray status`` shows of a job."""
    p = progress
    pages_known = "" if p.pages_total_known else " known so far"
    found = "" if p.total_known else " found so far"
    lines = [
        f"job {p.job_id}: {p.status.value}" + (f" ({p.error})" if p.error else ""),
        f"pages: {p.pages_done} of {p.pages_total}{pages_known}, {p.pages_rate:.2f} pages/s",
        f"files: {p.current - p.cancelled_files} of {p.total}{found}: {p.succeeded} succeeded, "
        f"{p.failed} failed, {p.skipped - p.cancelled_files} skipped"
        + (f", {p.cancelled_files} not read (cancelled)" if p.cancelled_files else ""),
        f"inputs: {', '.join(params.paths)}",
    ]
    if params.output_dir:
        lines.append(f"output: {params.output_dir}")
    if p.eta_s is not None:
        lines.append(f"eta: {_duration(p.eta_s)}{_finish(p)}")
    if p.failed:
        lines.append(f"failed files: ocr-ray failures {p.job_id}")
    return lines


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def cmd_jobs(args: argparse.Namespace) -> int:
    """Print recent jobs, one per line."""
    store = open_store(args.store)
    for row in store.list_jobs(limit=args.limit):
        p = progress_of(row)
        started = _when(row.started_at or row.created_at)
        output = f"  -> {row.params.output_dir}" if row.params.output_dir else ""
        print(
            f"{p.job_id}  {p.status.value:<11} {started}  {p.current}/{p.total} files  "
            f"{p.succeeded} ok  {p.failed} failed  {p.skipped} skipped  "
            f"{p.pages_done} pages  {p.review_pages} to review{_finish(p)}  "
            f"{', '.join(row.params.paths)}{output}"
        )
    return ExitCode.ok


def cmd_failures(args: argparse.Namespace) -> int:
    """Print every failed file of a job, with its error code and message."""
    for record in get_job(args.job_id, store=args.store).results(FileStatus.failed):
        error = record.error
        print(f"{record.path}\t{error.code if error else '-'}\t{error.message if error else ''}")
    return ExitCode.ok


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


def _finish(progress: Progress) -> str:
    if progress.finish_at is None:
        return ""
    return f"  done by {_when(progress.finish_at)}"


def cmd_export(args: argparse.Namespace) -> int:
    """Write a job's result files (and say when some of its files are not done yet)."""
    job: Job = get_job(args.job_id, store=args.store)
    progress = job.progress()
    if progress.current < progress.total or not progress.total_known:
        left = "some" if not progress.total_known else progress.total - progress.current
        print(
            f"ocr-ray: warning: job {job.id} is {progress.status.value} with {left} files not "
            f"done; they are not in this export (finish it: ocr-ray run --resume {job.id} "
            "--out DIR)",
            file=sys.stderr,
        )
    written = job.export(args.out, None if args.formats is None else parse_formats(args.formats))
    for path in written.values():
        print(path)
    return ExitCode.ok


def cmd_cancel(args: argparse.Namespace) -> int:
    """Ask a job's coordinator to stop."""
    if not get_job(args.job_id, store=args.store).cancel():
        raise UsageError(f"job {args.job_id} is already finished")
    print(f"cancel requested for {args.job_id}")
    return ExitCode.ok


def cmd_up(args: argparse.Namespace) -> int:
    """Start a local Ray once, so that each run skips Ray's start-up."""
    address = start_local(args.cpus, dashboard=args.dashboard)
    print(f"local Ray is up at {address}; runs on this machine join it until 'ocr-ray down'")
    _print_dashboard(*find_dashboard())
    return ExitCode.ok


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Say where Ray's dashboard is and how to get in (and open it if asked)."""
    url, address = find_dashboard(args.address)
    _print_dashboard(url, address)
    if url and args.open:
        webbrowser.open(url)
    return ExitCode.ok


def _print_dashboard(url: str | None, address: str) -> None:
    if url is None:
        print("dashboard: off (a Ray from 'ocr-ray up' has one)")
    else:
        print(f"dashboard: {url}")
    token = auth_token_path()
    print(f"token: the dashboard and the ray CLI ask for the one in {token}")
    print(f"ray CLI in this shell: export RAY_AUTH_MODE=token RAY_ADDRESS={address}")
    print("on a swarm the dashboard is not published: see cluster/OPERATIONS.md")


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the local Ray that 'up' started (no other)."""
    if not stop_local():
        raise UsageError("no local Ray started by 'ocr-ray up' is noted")
    print("local Ray stopped")
    return ExitCode.ok


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the capacity a number of pages needs within a time."""
    if args.pages < 1 or args.cores_per_worker < 1 or not 0 < args.utilisation <= 1:
        raise UsageError(
            "--pages and --cores-per-worker must be 1 or more, --utilisation in (0, 1]"
        )
    if args.rate is not None:
        rate = Rate(args.rate, "given with --rate")
    else:
        rate = measured_rate(open_store(args.store)) or Rate(
            DEFAULT_PAGES_PER_CORE_S, "the default, measured on 300 dpi book pages"
        )
    plan = Plan(
        pages=args.pages,
        seconds=parse_duration(args.within),
        rate=rate,
        utilisation=args.utilisation,
        cores_per_worker=args.cores_per_worker,
        files=args.files,
    )
    print("\n".join(plan.lines()))
    return ExitCode.ok


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "status": cmd_status,
    "jobs": cmd_jobs,
    "failures": cmd_failures,
    "export": cmd_export,
    "cancel": cmd_cancel,
    "plan": cmd_plan,
    "up": cmd_up,
    "dashboard": cmd_dashboard,
    "down": cmd_down,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ocr-ray`` script."""
    try:
        # The parser reads the plugin registry, which can refuse a retired setting.
        args = build_parser().parse_args(argv)
        narration.for_cli(
            quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False)
        )
        handler = getattr(args, "handler", None) or _COMMANDS[args.command]
        return int(handler(args))
    except OcrRayError as exc:
        print(f"ocr-ray: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
