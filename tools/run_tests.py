"""The `run_tests` tool (`run()`, in the model's checkout), and the harness's own test runs (`run_in()`, each in
a fresh copy of the commit it judges, see agent/harness_tests.py).

For pytest the results come from a JUnit XML file written to the sandbox's scratch directory, unique per
run and deleted once read; for other runners only the exit code and the end of the output are known.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shlex
import shutil
import stat
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from sandbox.base import CommandResult, Sandbox, SandboxConfig
from tools import paths
from tools.base import ToolInputError, ToolResult
from tools.detect import TestCommand, path_arguments
from tools.junit import JUnitTooLarge
from tools.pytest_guard import PYCACHE_DIR_NAME, GuardChannel, GuardPlugin, run_prefix
from tools.runner_summary import summary_counts
from tools.runners import EXIT_STATUS_ID, Results, ResultsUnreadable
from tools.test_report import TestReport

RAW_TAIL_CHARS = 3000
SUMMARY_CAP = 10_000
MAX_XML_BYTES = 16 * 1024 * 1024
NO_COMMAND = (
    "no test command is known for this repository (nothing detected, no test-cmd configured). "
    "Run the tests with the bash tool; the user can pass --test-cmd to configure one."
)


class RunTestsTool:
    name = "run_tests"

    def __init__(self, sandbox: Sandbox, command: TestCommand | None, *, timeout: float):
        self.sandbox = sandbox
        self.command = command
        self.timeout = timeout

    def spec(self) -> dict[str, Any]:
        known = f"`{self.command.command}`" if self.command else "none known: this tool will say so"
        return {
            "name": self.name,
            "description": (
                f"Run the project's tests in the sandbox (command: {known}) and get a compact summary: "
                "counts of passed, failed, errors and skipped, then each failing test's exact id (for pytest, "
                "its node id such as tests/test_x.py::test_name[param]) with a trimmed failure message. "
                "Pass `tests` to run only some tests. The harness also runs the whole suite itself before it "
                "accepts `finish`."
            ),
            "input_schema": {
                "type": "object",
                "properties": {
                    "tests": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Test ids to run, e.g. pytest node ids or file paths. "
                        "Omit to run the whole suite.",
                    },
                    "extra_args": {
                        "type": "string",
                        "description": 'Extra arguments for the test runner, e.g. "-x -k login".',
                    },
                },
            },
        }

    def __call__(self, params: dict[str, Any]) -> ToolResult:
        tests = params.get("tests")
        extra = params.get("extra_args")
        if isinstance(tests, str):
            tests = [tests]
        try:
            if tests is not None and not (isinstance(tests, list) and all(isinstance(t, str) for t in tests)):
                raise ToolInputError(
                    "`tests` must be a list of test id strings, or omitted for the whole suite"
                )
            if extra is not None and not isinstance(extra, str):
                raise ToolInputError('`extra_args` must be a string, e.g. "-x -k login"')
            report = self.run(tests, extra_args=extra)
        except ToolInputError as exc:
            return ToolResult(str(exc), is_error=True)
        except OSError as exc:
            return ToolResult(f"the tests could not be started: {exc}; try again", is_error=True)
        return ToolResult(self.summarise(report), data={"report": report.model_dump()})

    def run(self, tests: Sequence[str] | None = None, *, extra_args: str | None = None) -> TestReport:
        """Run the suite (or `tests`) in the sandbox and collect what happened."""
        return self._run(tests, extra_args=extra_args)

    def _run(
        self,
        tests: Sequence[str] | None,
        *,
        extra_args: str | None = None,
        prefix: str = "",
        plugin_args: Sequence[str] = (),
    ) -> TestReport:
        if self.command is None:
            raise ToolInputError(NO_COMMAND)
        ids = [t.strip() for t in tests or [] if t.strip()]
        if ids and not self.command.narrowable:
            raise ToolInputError(
                f"`{self.command.command}` cannot be narrowed to single tests; call run_tests without `tests`, "
                "or run a subset with the bash tool"
            )
        extra = _quoted_words(extra_args)
        visible = " ".join([self.command.command, *extra, *path_arguments(ids)])
        runner = self.command.runner
        if not runner.structured:
            result = self.sandbox.run(prefix + visible, timeout=self.timeout, cwd=self.sandbox.workdir)
            return TestReport(
                command=visible,
                exit_code=result.exit_code,
                timed_out=result.timed_out,
                duration_s=result.duration_s,
                structured=False,
                raw_tail=_tail(result.output),
                summary_counts=_coarse_counts(result),
            )
        token = uuid.uuid4().hex
        result_name = f"{runner.name.replace(' ', '-').replace(':', '-')}-{token}{runner.suffix}"
        inner = posixpath.join(self.sandbox.scratch_inner, result_name)
        in_tree = getattr(runner, "report_path", None)
        support = self.sandbox.scratch / f"support-{token}" if runner.support else None
        if support is not None:
            support.mkdir()
            for name, text in runner.support.items():
                (support / name).write_text(text, encoding="utf-8")
            inner = posixpath.join(self.sandbox.scratch_inner, support.name, result_name)
        if in_tree is not None:
            _remove_in_tree(self.sandbox.checkout, in_tree)
        full = runner.command_line(self.command.command, ids, [*plugin_args, *extra], inner)
        result = self.sandbox.run(prefix + full, timeout=self.timeout, cwd=self.sandbox.workdir)
        report = TestReport(
            command=visible,
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            duration_s=result.duration_s,
            raw_tail=_tail(result.output),
        )
        try:
            if in_tree is not None:
                data = _take_from_tree(self.sandbox.checkout, in_tree)
            else:
                data = _take_file((support or self.sandbox.scratch) / result_name)
            if data is None:
                report.structured = False
                report.summary_counts = _coarse_counts(result)
                return report
            report.junit_sha256 = hashlib.sha256(data).hexdigest() if self.command.pytest else None
            parsed = runner.parse(data, output=result.output, root=self.sandbox.checkout, asked=ids)
            report.outcomes, report.messages = parsed.outcomes, parsed.messages
            if not self.command.pytest:
                _check_exit_status(report)
                kept = Results(report.outcomes, report.messages).only(ids, runner.sep)
                report.outcomes, report.messages = kept.outcomes, kept.messages
        except (ET.ParseError, ResultsUnreadable) as exc:
            report.structured = False
            report.outcomes, report.messages = {}, {}
            report.raw_tail = f"[the test report could not be read: {exc}]\n{report.raw_tail}"
        except JUnitTooLarge as exc:
            report.structured = False
            report.outcomes, report.messages = {}, {}
            report.raw_tail = (
                f"[{exc}, so there are no per-test results; pass `tests` to run fewer]\n{report.raw_tail}"
            )
        finally:
            if support is not None:
                shutil.rmtree(support, ignore_errors=True)
        return report

    def run_in(
        self,
        tree: Path,
        tests: list[str],
        *,
        guard: GuardPlugin | None = None,
        pycache: Path | None = None,
    ) -> TestReport:
        """A harness run: `tests` in another tree (a fresh copy made for this one run) in a sandbox like
        this one's, with bytecode kept out of the tree and, for pytest, the runtime check `guard` loaded
        first (its directory mounted read-only). A runner that cannot be narrowed runs its whole suite.

        `pycache` is where bytecode of what lies outside the tree (the interpreter's own modules, installed
        packages) is kept between harness runs: the first run writes it, every later run mounts it
        read-only, so no run can leave bytecode for another."""
        if self.command is not None and not self.command.narrowable:
            tests = []
        if tree.resolve() == self.sandbox.checkout.resolve():
            raise ValueError("a harness run needs its own copy of the tree, not the model's checkout")
        scratch = Path(tempfile.mkdtemp(prefix="tests-", dir=self.sandbox.scratch))
        use_guard = guard if self.command is not None and self.command.pytest else None
        # the runtime check's channel: beside the run's /tmp, not in it, so the sandbox sees it read-only
        channel_dir = (
            Path(tempfile.mkdtemp(prefix="channel-", dir=self.sandbox.scratch)) if use_guard else None
        )
        seeding = pycache is not None and not pycache.exists()
        shared = pycache if pycache is not None and not seeding else None
        config = self.sandbox.config
        ro = (use_guard.directory if use_guard else None, channel_dir, shared)
        mounts = [str(p) for p in ro if p is not None]
        if mounts:
            config = replace(config, extra_ro_paths=(*config.extra_ro_paths, *mounts))
        make = cast(Callable[[Path, Path, SandboxConfig], Sandbox], type(self.sandbox))
        other = make(tree, scratch, config)
        channel: GuardChannel | None = None
        try:
            # the plugin streams into it while the tests run: nothing it said can be rewritten afterwards
            channel = GuardChannel(channel_dir) if channel_dir is not None else None
            tool = RunTestsTool(other, self.command, timeout=self.timeout)
            report = tool._run(
                tests,
                prefix=run_prefix(use_guard, shared, channel.path if channel is not None else None),
                plugin_args=["-p", use_guard.module] if use_guard is not None else [],
            )
            if channel is not None:
                report.guard = channel.record()
            written = other.scratch / PYCACHE_DIR_NAME
            if seeding and pycache is not None and written.is_dir() and not written.is_symlink():
                written.rename(pycache)
            return report
        finally:
            if channel is not None:
                channel.close()
            other.close()
            shutil.rmtree(scratch, ignore_errors=True)
            if channel_dir is not None:
                shutil.rmtree(channel_dir, ignore_errors=True)

    def summarise(self, report: TestReport) -> str:
        """The compact summary the model reads."""
        if report.timed_out:
            return (
                f"The tests timed out after {self.timeout:g} s and were killed; no results were collected. "
                "Run fewer tests with `tests`, or look for a test that hangs." + _with_tail(report.raw_tail)
            )
        if not report.structured:
            why = (
                f"it wrote no readable {'JUnit' if self.command.pytest else 'structured'} report, so there are "
                "no per-test results"
                if self.command is not None and self.command.structured
                else "this runner gives no per-test results"
            )
            return (
                f"`{report.command}` exited with code {report.exit_code} in {report.duration_s:.1f} s; {why}."
                + _coarse_line(report)
                + _with_tail(report.raw_tail)
            )
        c = report.counts()
        lines = [
            f"{c['passed']} passed, {c['failed']} failed, {c['error']} errors, {c['skipped']} skipped "
            f"in {report.duration_s:.1f} s"
        ]
        if not report.outcomes:
            lines[0] = f"No test results (exit code {report.exit_code}" + (
                "; no tests were collected)" if report.exit_code == 5 else ")"
            )
        size = len(lines[0])
        groups = _same_message_groups(report)
        for shown, (_ids, block) in enumerate(groups):
            if size + len(block) > SUMMARY_CAP:
                rest = [test_id for group, _ in groups[shown:] for test_id in group]
                names = ", ".join(rest[:50]) + (" ..." if len(rest) > 50 else "")
                lines.append(f"[{len(rest)} more failing, messages omitted: {names}]")
                break
            lines.append(block)
            size += len(block) + 1
        text = "\n".join(lines)
        if report.exit_code not in (0, 1) or not report.outcomes:
            text += _with_tail(report.raw_tail)
        return text


def _check_exit_status(report: TestReport) -> None:
    """A runner that exits non-zero must show a failing test: results that say otherwise (forged, or a
    crash after the last result) get one failing entry of the run's own. No results at all is no report."""
    if report.timed_out or report.exit_code in (0, None) or report.failing:
        return
    if not report.outcomes:
        report.structured = False
        return
    report.outcomes[EXIT_STATUS_ID] = "error"
    report.messages[EXIT_STATUS_ID] = (
        f"the runner exited with code {report.exit_code} but its results show no failing test"
    )


def _remove_in_tree(root: Path, relative: str) -> None:
    """Delete what is at `relative` in the tree before a run writes there: a file the repository put there
    must not stand in for the run's report (a link is removed, never followed; a directory stays)."""
    parent, _, name = relative.rpartition("/")
    try:
        folder = paths.resolve_in_checkout(root, parent or ".", workdir=str(root))
        (folder / name).unlink()
    except (OSError, ToolInputError):
        pass


def _take_from_tree(root: Path, relative: str) -> bytes | None:
    """Read and delete the file at `relative` in the tree, never through a link."""
    try:
        target = paths.resolve_in_checkout(root, relative, workdir=str(root))
        data = paths.read_bytes(root, target)
    except (OSError, ToolInputError):
        return None
    if len(data) > MAX_XML_BYTES:
        raise JUnitTooLarge(
            f"the JUnit report is more than the {MAX_XML_BYTES // 2**20} MiB the harness reads"
        )
    target.unlink(missing_ok=True)
    return data


def _coarse_counts(result: CommandResult) -> dict[str, int] | None:
    return summary_counts(result.output, complete=result.cut_bytes == 0)


def _coarse_line(report: TestReport) -> str:
    c = report.summary_counts
    if not c:
        return ""
    return (
        f"\nIts own summary line says: {c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
        f"{c['skipped']} skipped (coarse counts: no test ids, not evidence for the verdict)."
    )


_LOCATION = re.compile(r"^\S+:\d+: \w[\w.]*$")  # pytest's last line of a failure: `path:line: ErrorType`


def _failure_site(message: str) -> str:
    """Where and how a test failed: pytest's `>` source lines and its `path:line: ErrorType` line. Empty
    when the message has neither (then only an identical message groups)."""
    lines = message.strip().splitlines()
    site = [line for line in lines if line.startswith(">")]
    if lines and _LOCATION.match(lines[-1]):
        site.append(lines[-1])
    return "\n".join(site)


def _same_message_groups(report: TestReport) -> list[tuple[list[str], str]]:
    """The failures as text blocks, in run order. Tests that fail the same way share one block that names
    every id and gives the message once: the same message, or (a parametrised test, most often) the same
    failing line and error type with details that differ, shown for the first of them."""
    groups: dict[tuple[str, str], list[str]] = {}
    for test_id in report.failing:
        message = report.messages.get(test_id, "").strip()
        key = _failure_site(message) or message or f"\0{test_id}"
        groups.setdefault((report.outcomes[test_id], key), []).append(test_id)
    blocks = []
    for (kind, _key), ids in groups.items():
        message = report.messages.get(ids[0], "")
        if len(ids) == 1:
            head = f"{'FAILED' if kind == 'failed' else 'ERROR'} {ids[0]}"
        else:
            verb = "failed" if kind == "failed" else "had errors"
            same = all(report.messages.get(t, "").strip() == message.strip() for t in ids)
            how = (
                "with the same message"
                if same
                else "at the same line with the same error (message of the first)"
            )
            head = f"{len(ids)} tests {verb} {how}: {', '.join(ids)}"
        blocks.append((ids, head + ("\n" + _indent(message) if message else "")))
    return blocks


def _quoted_words(extra_args: str | None) -> list[str]:
    if not extra_args or not extra_args.strip():
        return []
    try:
        return [shlex.quote(word) for word in shlex.split(extra_args)]
    except ValueError as exc:
        raise ToolInputError(f"extra_args is not valid shell syntax ({exc}); check its quotes") from None


def _take_file(path: Path) -> bytes | None:
    """Read and delete a file the sandbox wrote, without following a link planted in its place. Raises
    JUnitTooLarge for a file over MAX_XML_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        if path.is_symlink():
            path.unlink()
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        chunks, size = [], 0
        while size <= MAX_XML_BYTES and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_XML_BYTES:  # st_size is not trusted: the file may still be growing
            raise JUnitTooLarge(
                f"the JUnit report is {max(size, info.st_size) / 2**20:.0f} MiB, more than "
                f"the {MAX_XML_BYTES // 2**20} MiB the harness reads"
            )
        return b"".join(chunks)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def _tail(output: str) -> str:
    return output[-RAW_TAIL_CHARS:]


def _with_tail(tail: str) -> str:
    return f"\nLast lines of output:\n{tail.strip()}" if tail.strip() else ""


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
