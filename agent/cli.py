"""The command line: `be-agent run`, `replay`, `fix-issue`, `ci`, `bench`, `view`.

Exit codes (documented in README): 0 fixed, 1 not fixed, 2 usage or configuration error, 3 model API
failure, 4 sandbox unavailable, 130 interrupted. Errors are one line on stderr: `be-agent: error: ...`.
With `--json` the last line of stdout is one JSON object, errors included.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from agent.config import DEFAULT_MODEL, RunRequest, RunResult, default_state_dir
from agent.errors import AgentError, ExitCode, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="An autonomous backend engineer: a task on a git repository becomes a tested branch.",
)

F = TypeVar("F", bound=Callable[..., Any])


def _print_version(wanted: bool) -> None:
    if wanted:
        from agent import __version__

        typer.echo(f"be-agent {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """An autonomous backend engineer: a task on a git repository becomes a tested branch."""


def fail(message: str, code: int, *, as_json: bool, details: dict[str, str] | None = None) -> typer.Exit:
    typer.echo(f"be-agent: error: {message}", err=True)
    if as_json:
        typer.echo(json.dumps({**(details or {}), "status": "error", "reason": message, "exit_code": code}))
    return typer.Exit(code)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def option_error(exc: ValidationError) -> str:
    """A RunRequest that refused its values, as one line naming the options (field `max_cost` is
    `--max-cost`)."""
    problems = []
    for error in exc.errors(include_url=False):
        option = "--" + str(error["loc"][0] if error["loc"] else "task").replace("_", "-")
        ctx = error.get("ctx") or {}
        kind = error["type"]
        if kind == "value_error":
            problems.append(f"{option}: {ctx.get('error')}")
            continue
        if kind == "finite_number":
            rule = "must be a finite number"
        elif kind == "greater_than":
            rule = f"must be greater than {ctx['gt']:g}"
        elif kind == "greater_than_equal":
            rule = f"must be at least {ctx['ge']:g}"
        else:
            rule = error["msg"][:1].lower() + error["msg"][1:]
        problems.append(f"{option} {rule}, not {_shown(error.get('input'))}")
    return "; ".join(problems)


def internal_failure(exc: Exception, *, as_json: bool) -> typer.Exit:
    return fail(f"internal error: {type(exc).__name__}: {exc}", ExitCode.INTERNAL, as_json=as_json)


def handles_errors(func: F) -> F:
    """Turn AgentError and interruptions into a one-line message and the documented exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("json_output"))
        try:
            return func(*args, **kwargs)
        except AgentError as exc:
            raise fail(exc.message, exc.exit_code, as_json=as_json, details=exc.details) from None
        except ValidationError as exc:
            if exc.title == RunRequest.__name__:  # option values the request refused: the user's to fix
                raise fail(option_error(exc), ExitCode.USAGE, as_json=as_json) from None
            raise internal_failure(exc, as_json=as_json) from exc
        except KeyboardInterrupt:
            raise fail("interrupted", ExitCode.INTERRUPTED, as_json=as_json) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:  # a bug: say so plainly, never exit 1 ("not fixed") by accident
            raise internal_failure(exc, as_json=as_json) from exc

    return wrapper  # type: ignore[return-value]


def read_task(task: str | None, task_file: Path | None) -> str:
    if task is not None and task_file is not None:
        raise UsageError("give either --task or --task-file, not both")
    if task_file is not None:
        try:
            return task_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"cannot read task file {task_file}: {reason}") from None
    if task is None:
        raise UsageError("no task: give --task TEXT or --task-file FILE")
    return task


def result_json(result: RunResult) -> str:
    return json.dumps(result.model_dump(mode="json"), ensure_ascii=False)


def emit_result(result: RunResult, *, as_json: bool, quiet: bool) -> None:
    from agent.report import render_terminal_summary

    if not quiet or not as_json:
        typer.echo(render_terminal_summary(result), err=as_json)
    if as_json:
        typer.echo(result_json(result))


SANDBOX_HELP = (
    "auto: bubblewrap, or exit 4 when it cannot start; bwrap: require it; none: no confinement (unsafe)"
)


def check_sandbox(sandbox: str) -> None:
    if sandbox not in ("auto", "bwrap", "none"):
        raise UsageError(f"--sandbox must be auto, bwrap or none, not {sandbox!r}")


@app.command("run")
@handles_errors
def run_command(
    repo: Annotated[Path, typer.Option("--repo", help="The git repository to work on.")] = Path("."),
    task: Annotated[str | None, typer.Option("--task", help="What to do, as text.")] = None,
    task_file: Annotated[Path | None, typer.Option("--task-file", help="What to do, from a file.")] = None,
    base: Annotated[str, typer.Option("--base", help="Commit or ref to start from.")] = "HEAD",
    branch: Annotated[
        str | None, typer.Option("--branch", help="Branch to create (default be-agent/<slug>-<id>).")
    ] = None,
    test_cmd: Annotated[
        str | None, typer.Option("--test-cmd", help="Test command (default: detected).")
    ] = None,
    model: Annotated[str, typer.Option("--model", help="Claude model id.")] = DEFAULT_MODEL,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Stop after this many model turns.")] = 50,
    max_cost: Annotated[float | None, typer.Option("--max-cost", help="Stop after this many USD.")] = None,
    max_time: Annotated[
        float | None, typer.Option("--max-time", help="Stop after this many seconds.")
    ] = None,
    command_timeout: Annotated[float, typer.Option("--command-timeout", help="Seconds per command.")] = 120.0,
    test_timeout: Annotated[float, typer.Option("--test-timeout", help="Seconds per test run.")] = 900.0,
    retry_budget: Annotated[
        float, typer.Option("--retry-budget", help="Seconds one model call may retry.")
    ] = 120.0,
    sandbox: Annotated[str, typer.Option("--sandbox", help=SANDBOX_HELP)] = "auto",
    network: Annotated[
        bool, typer.Option("--network", help="Let commands reach the network (weakens the sandbox).")
    ] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the run's checkout.")] = False,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where runs live.")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on the last line.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Work on a task in a private copy of REPO and hand back a tested branch."""
    from agent.progress import Progress
    from agent.run import run_task

    check_sandbox(sandbox)
    # a ValidationError here (a bad option value) becomes one usage line in handles_errors
    request = RunRequest(
        repo=repo,
        task=read_task(task, task_file),
        base=base,
        branch=branch,
        test_cmd=test_cmd,
        model=model,
        max_steps=max_steps,
        max_cost=max_cost,
        max_time=max_time,
        command_timeout=command_timeout,
        test_timeout=test_timeout,
        retry_budget=retry_budget,
        sandbox=sandbox,  # type: ignore[arg-type]
        network=network,
        keep=keep,
        state_dir=state_dir or default_state_dir(),
        verbose=verbose,
        quiet=quiet,
    )
    progress = Progress(sys.stderr, enabled=not quiet)
    try:
        result = run_task(request, progress=progress)
    finally:
        progress.close()
    emit_result(result, as_json=json_output, quiet=quiet)
    raise typer.Exit(result.exit_code)


@app.command("replay")
@handles_errors
def replay_command(
    trajectory: Annotated[Path, typer.Argument(help="A trajectory.jsonl recorded by a run.")],
    repo: Annotated[
        Path | None, typer.Option("--repo", help="Repository to replay on (default: recorded).")
    ] = None,
    sandbox: Annotated[str, typer.Option("--sandbox", help=SANDBOX_HELP)] = "auto",
    state_dir: Annotated[Path | None, typer.Option("--state-dir")] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Re-run a recorded run's model turns through the real loop and tools, with no API key."""
    from agent.replay import replay

    check_sandbox(sandbox)
    outcome = replay(
        trajectory, repo=repo, sandbox=sandbox, state_dir=state_dir or default_state_dir(), quiet=quiet
    )
    emit_result(outcome.result, as_json=False, quiet=quiet or json_output)
    if outcome.differences:
        typer.echo(f"replay differs from the recording in {len(outcome.differences)} place(s):", err=True)
        for diff in outcome.differences:
            typer.echo(f"  - {diff}", err=True)
    else:
        typer.echo(f"replay matches the recording ({outcome.compared} tool results compared)", err=True)
    if json_output:
        payload = outcome.result.model_dump(mode="json")
        payload["replay"] = {
            "matches": not outcome.differences,
            "compared": outcome.compared,
            "differences": outcome.differences,
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
    raise typer.Exit(outcome.exit_code)


def _register_feature_commands() -> None:
    """Commands built in their own modules; each is a plain typer-annotated function."""
    from agent.bench import bench_command
    from agent.ci import ci_command
    from agent.fix_issue import fix_issue_command

    app.command("fix-issue")(handles_errors(fix_issue_command))
    app.command("ci")(handles_errors(ci_command))
    app.command("bench")(handles_errors(bench_command))


_register_feature_commands()


def _register_view_command() -> None:
    """`be-agent view`: the run page (agent/view.py), loaded only when the command runs."""

    @app.command("view")
    @handles_errors
    def view_command(
        target: Annotated[Path, typer.Argument(help="A run directory, or a trajectory.jsonl.")],
        out: Annotated[
            Path | None, typer.Option("--out", help="Where to write the page (default: run.html beside it).")
        ] = None,
        open_page: Annotated[bool, typer.Option("--open", help="Open the page in a browser.")] = False,
    ) -> None:
        """Write one self-contained HTML page showing what a run did (no scripts; it loads nothing)."""
        from agent.view import view_command as write_view

        write_view(target, out=out, open_page=open_page)


_register_view_command()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
