"""Evidence changed after pytest produced it is caught (issue 13's promise: `fixed` means the tests say so).

Fast half of the red team round on after-the-fact tampering (the end-to-end half, through the real CLI, is
tests/test_redteam_verdict.py): each attack of tests/evidence_attacks.py runs in a real pytest process with
the runtime check and its channel, and the harness's reading of that run must name what was done. Then the
reading of the record stream itself, as hostile input, and the findings' rules, as pure functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent import targets as tg
from agent.change_check import evidence_findings, runtime_findings
from agent.harness_tests import HarnessTests
from agent.verdict import decide
from agent.verify import verify
from tests.evidence_attacks import ATTACKS
from tests.test_added_tests import commit, make_repo, write
from tests.test_pytest_guard import TESTS, project, run_guarded
from tools.pytest_guard import GuardRecord, hashed_id, parse_stream
from tools.test_report import TestReport

BUG = "tests/test_pkg.py::test_bug"

# --- the attacks, each in a real pytest process ----------------------------------------------------------


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_evidence_rewritten_after_pytest_wrote_it_is_named(tmp_path: Path, attack: str) -> None:
    root = project(tmp_path, ATTACKS[attack] + "\nVALUE = 1\n")
    _done, report = run_guarded(tmp_path, root)
    assert report.outcomes[BUG] == "passed"  # the report the harness read was forged...
    findings = runtime_findings(TestReport(command="pytest"), report, [BUG], "the run")
    # ...and the record of what pytest did says so, whichever way the attack went about it
    assert any("logged as failing: " in f and BUG in f for f in findings), findings
    assert any("did not pass when the harness watched them run" in f for f in findings), findings
    assert report.guard is not None and report.guard.call(BUG) == "failed"


def test_each_trace_of_an_attack_is_named(tmp_path: Path) -> None:
    """What each attack leaves besides the forged outcome: the report's digest, the exit code, the stream."""
    seen: dict[str, list[str]] = {}
    for attack in ("at exit, then exit code 0", "a forged record stream"):
        root = project(
            tmp_path / attack.replace(" ", "-").replace(",", ""), ATTACKS[attack] + "\nVALUE = 1\n"
        )
        _done, report = run_guarded(root.parent, root)
        seen[attack] = evidence_findings(report, "the run")
    assert (
        seen["at exit, then exit code 0"][0]
        == "The JUnit report of the run was changed after pytest wrote it."
    )
    assert seen["at exit, then exit code 0"][-1] == (
        "The test process of the run exited with code 0, but pytest ended its session with 1: something changed "
        "the result after pytest finished."
    )
    forged = seen["a forged record stream"][0]
    assert forged.startswith("The runtime check's record of the run was written to by something else: ")
    assert "a record (end) after the main process ended its session" in forged


def test_an_honest_library_that_uses_atexit_threads_and_signals_is_not_suspect(tmp_path: Path) -> None:
    honest = (
        "import atexit\nimport os\nimport signal\nimport tempfile\nimport threading\n\n"
        "_log = os.path.join(tempfile.gettempdir(), 'pkg-log.txt')\n"
        "atexit.register(lambda: open(_log, 'a').write('bye\\n'))\n"
        "threading.Thread(target=lambda: None).start()\n"
        "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
        "VALUE = 2\n"
    )
    root = project(tmp_path, honest)
    (root / "tests" / "test_pkg.py").write_text(
        TESTS.replace("assert pkg.VALUE == 1", "assert pkg.VALUE == 2")
    )
    _done, report = run_guarded(tmp_path, root)
    assert report.outcomes[BUG] == "passed"
    assert runtime_findings(TestReport(command="pytest"), report, [BUG], "the run") == []


# --- the record stream, read as hostile input --------------------------------------------------------------


def lines(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def honest_stream(pid: int = 7, *, exit_status: int = 1, digest: str = "ab" * 32) -> list[dict[str, Any]]:
    return [
        {"pid": pid, "seq": 0, "kind": "start"},
        {"pid": pid, "seq": 1, "kind": "call", "id": BUG, "outcome": "failed"},
        {"pid": pid, "seq": 2, "kind": "failed", "id": BUG, "when": "call"},
        {
            "pid": pid,
            "seq": 3,
            "kind": "end",
            "role": "main",
            "exit_status": exit_status,
            "junit_sha256": digest,
        },
    ]


def test_an_honest_stream_is_believed() -> None:
    record = parse_stream(lines(*honest_stream()))
    assert record is not None and record.tampered == []
    assert record.ended and record.exit_status == 1 and record.junit_sha256 == "ab" * 32
    assert record.calls == {BUG: "failed"} and record.failed == [BUG] and record.processes == 1
    assert parse_stream(b"") is None  # nothing arrived: the check never ran


def test_workers_interleave_with_the_main_process() -> None:
    main, worker = honest_stream(1), honest_stream(2)
    worker[-1] = {**worker[-1], "role": "worker", "junit_sha256": None}
    # a worker's end may come after its controller's: the controller goes on once the tests are done
    late_end = parse_stream(lines(*main[:3], *worker[:3], main[3], worker[3]))
    assert late_end is not None and late_end.tampered == [] and late_end.ended
    record = parse_stream(
        lines(main[0], worker[0], main[1], worker[1], worker[2], main[2], worker[3], main[3])
    )
    assert record is not None and record.tampered == [] and record.processes == 2 and record.ended


@pytest.mark.parametrize(
    "stream, problem",
    [
        # a second record with a number the plugin already used: someone wrote beside it
        (
            [*honest_stream()[:2], {"pid": 7, "seq": 1, "kind": "call", "id": BUG, "outcome": "passed"}],
            "process 7's records out of order or repeated (call #1)",
        ),
        # a record after the main process ended: written after the session, by whatever ran later
        (
            [*honest_stream(), {"pid": 9, "seq": 0, "kind": "start"}],
            "a record (start) after the main process ended its session",
        ),
        # a second main process vouching for another report
        (
            [*honest_stream(), *honest_stream(8, exit_status=0, digest="cd" * 32)],
            "a record (start) after the main process ended its session",
        ),
        # a known process that goes on testing, or claims to be main, after the main process ended
        (
            [
                honest_stream(8)[0],
                *honest_stream(),
                {"pid": 8, "seq": 1, "kind": "call", "id": BUG, "outcome": "passed"},
            ],
            "a record (call) after the main process ended its session",
        ),
        (
            [honest_stream(8)[0], *honest_stream(), {**honest_stream(8)[3], "seq": 1}],
            "a record (end) after the main process ended its session",
        ),
        # a process whose first record is not its start
        ([{"pid": 5, "seq": 0, "kind": "call", "id": BUG, "outcome": "passed"}], "process 5's records"),
        ([{"pid": 5, "seq": 0, "kind": "start", "extra": 1}], "a line the runtime check never writes"),
        ([{"pid": 5, "seq": "0", "kind": "start"}], "a line the runtime check never writes"),
    ],
)
def test_records_the_plugin_could_not_have_written_are_named(
    stream: list[dict[str, Any]], problem: str
) -> None:
    record = parse_stream(lines(*stream))
    assert record is not None and any(p.startswith(problem) for p in record.tampered), record.tampered


def test_a_later_record_never_overrides_an_earlier_one() -> None:
    forged = {"pid": 7, "seq": 1, "kind": "call", "id": BUG, "outcome": "passed"}
    record = parse_stream(lines(*honest_stream()[:2], forged, *honest_stream()[2:]))
    assert record is not None and record.calls[BUG] == "failed" and record.tampered


def test_garbage_cut_lines_and_overflow_are_named() -> None:
    record = parse_stream(lines(*honest_stream()) + b"\xff\xfe not json\n" + b'{"pid": 7')
    assert record is not None
    assert record.tampered == ["a line the runtime check never writes", "a record cut short"]
    flooded = parse_stream(b"", overflowed=True)
    assert flooded is not None and flooded.tampered == ["more records than the harness reads"]


def test_a_test_id_too_long_for_one_record_is_matched_by_its_digest() -> None:
    long_id = "tests/test_pkg.py::test_x[" + "a" * 5000 + "]"
    start = {"pid": 1, "seq": 0, "kind": "start"}
    call = {"pid": 1, "seq": 1, "kind": "call", "id_sha256": hashed_id(long_id)[7:], "outcome": "failed"}
    record = parse_stream(lines(start, call))
    assert record is not None and record.call(long_id) == "failed"


# --- the findings' rules, pure -----------------------------------------------------------------------------


def run(guard: GuardRecord | None, outcomes: dict[str, str], **fields: Any) -> TestReport:
    return TestReport.model_validate({"command": "pytest", "outcomes": outcomes, "guard": guard, **fields})


def ended(**fields: Any) -> GuardRecord:
    return GuardRecord.model_validate(
        {"processes": 1, "ended": True, "exit_status": 1, "junit_sha256": "ab" * 32, **fields}
    )


def test_a_consistent_run_has_no_finding() -> None:
    report = run(
        ended(calls={BUG: "failed"}, failed=[BUG]), {BUG: "failed"}, exit_code=1, junit_sha256="ab" * 32
    )
    assert evidence_findings(report, "the run") == []


def test_each_inconsistency_is_a_finding() -> None:
    baseline = run(ended(), {BUG: "failed"}, exit_code=1, junit_sha256="ab" * 32)
    guard = ended(calls={BUG: "failed"}, failed=[BUG], tampered=["a record cut short"])
    forged = run(guard, {BUG: "passed"}, exit_code=0, junit_sha256="cd" * 32)
    assert runtime_findings(baseline, forged, [BUG], "the verdict run") == [
        "The runtime check's record of the verdict run was written to by something else: a record cut short.",
        "The JUnit report of the verdict run was changed after pytest wrote it.",
        f"The JUnit report of the verdict run says passed for test(s) that pytest logged as failing: {BUG}.",
        "The test process of the verdict run exited with code 0, but pytest ended its session with 1: something "
        "changed the result after pytest finished.",
        f"Target test(s) reported as passed in the verdict run did not pass when the harness watched them run: "
        f"{BUG} (failed).",
    ]


def test_an_exit_code_the_baseline_also_remapped_is_not_held_against_the_change() -> None:
    # a test command that wraps pytest and changes its exit code, on the base code as on the change
    baseline = run(ended(), {BUG: "failed"}, exit_code=2, junit_sha256="ab" * 32)
    report = run(
        ended(calls={BUG: "passed"}, exit_status=0), {BUG: "passed"}, exit_code=3, junit_sha256="ab" * 32
    )
    assert runtime_findings(baseline, report, [BUG], "the run") == []


def test_a_session_that_never_ended_but_left_a_report_is_a_finding() -> None:
    report = run(GuardRecord(processes=1, calls={BUG: "passed"}), {BUG: "passed"}, exit_code=0)
    assert evidence_findings(report, "the run") == [
        "The runtime check of the run never saw pytest end its session, yet a JUnit report exists."
    ]


def test_without_any_record_a_failing_exit_code_with_no_failing_test_is_not_trusted() -> None:
    report = run(None, {BUG: "passed"}, exit_code=1)
    [finding] = runtime_findings(run(None, {}), report, [BUG], "the run")
    assert "exited with code 1 (tests failed), yet its JUnit report shows no failing test" in finding
    # pytest's own decision, confirmed by the check (a coverage threshold, say), is not suspect
    confirmed = run(ended(calls={BUG: "passed"}), {BUG: "passed"}, exit_code=1, junit_sha256="ab" * 32)
    assert runtime_findings(run(None, {}), confirmed, [BUG], "the run") == []


# --- the verdict's re-run decides what is flaky, so it is checked like the verdict run -------------------


def test_a_re_run_that_forges_a_pass_does_not_turn_a_regression_into_a_flaky_test(tmp_path: Path) -> None:
    """A change that fixes the target but breaks another test could have the re-run of the broken test (which
    tells flaky from broken) report it passing; the re-run's evidence is checked like the verdict run's."""
    repo, base = make_repo(
        tmp_path, {"calc.py": "X = 1\n", "tests/test_calc.py": "def test_a():\n    pass\n"}
    )
    write(repo, {"calc.py": "X = 2\n"})
    head = commit(repo, "change")
    target, broken = "tests/test_calc.py::test_target", "tests/test_calc.py::test_other"
    honest_guard = ended(calls={target: "passed", broken: "failed"}, failed=[broken])

    def runner(_tree: Path, ids: list[str]) -> TestReport:
        if ids:  # the re-run: the report says passed, what pytest logged says otherwise
            guard = ended(calls={broken: "failed"}, failed=[broken], junit_sha256="cd" * 32)
            return run(guard, {broken: "passed"}, exit_code=1, junit_sha256="cd" * 32)
        return run(honest_guard, {target: "passed", broken: "failed"}, exit_code=1, junit_sha256="ab" * 32)

    baseline = run(ended(), {target: "failed", broken: "passed"}, exit_code=1, junit_sha256="ab" * 32)
    harness = HarnessTests(runner, repo, tmp_path / "harness", base=base)
    verified = verify(
        harness,
        repo,
        base=base,
        commit=head,
        baseline=baseline,
        flaky=[],
        targets=tg.Targets(source="--tests", names=[target]),
        structured_runner=True,
    )
    assert verified.evidence.flaky == [broken]  # the forged re-run disagreed...
    assert (
        f"The JUnit report of the verdict's re-run says passed for test(s) that pytest logged as failing: {broken}."
        in verified.evidence.findings
    )  # ...and is named, so the change is not fixed
    assert not decide(verified.evidence).fixed
