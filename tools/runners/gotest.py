"""`go test -json`: the test2json stream, written to the result file (stdout redirected there; build errors
stay on stderr, in the output). Ids read `./pkg::TestName` and `./pkg::TestName/sub_test` (the package as
a path relative to the module in go.mod; `.` for the module's root package; the import path for a package
outside the module). A package that does not build (`FAIL pkg [build failed]`) or fails with no failing
test (a panic in TestMain, an os.Exit) is an error with the package's id, its message from the output.

Narrowing: the asked packages, and `-run` with the asked tests' names as literals (`^TestA$/^sub$` for one
subtest, `^(TestA|TestB)$` for several); a test of the same name in another asked package runs too, and
is left out of the report. Go never downloads here: GOPROXY=off, GOTOOLCHAIN=local, and the build cache and
GOPATH are under the sandbox's TMPDIR (/tmp) unless the environment already names them (GOFLAGS is left alone).

Go before 1.20 frames results by the text a test prints (`--- PASS: TestX`), so a test can print a line
that reads as another test's result; a failure reported for a test is never overridden by a pass, and code
under test that prints the framing or exits the binary is named by the change's static check
(tools/runners/base.py says what else is and is not defended).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from tools.runners.base import Results, ResultsUnreadable, escape_regex, program, split_id, trim, words

SEP = "/"
ENV = (
    'export GOCACHE="${GOCACHE:-${TMPDIR:-/tmp}/.be-agent-go/cache}" '
    'GOPATH="${GOPATH:-${TMPDIR:-/tmp}/.be-agent-go/path}" '
    "GOPROXY=off GOTOOLCHAIN=local GOSUMDB=off GOWORK=off; "
)
_VALUED = {
    "-run", "-skip", "-bench", "-benchtime", "-count", "-timeout", "-tags", "-p", "-parallel", "-cpu",
    "-coverprofile", "-covermode", "-coverpkg", "-o", "-exec", "-ldflags", "-gcflags", "-mod", "-vet",
    "-shuffle", "-blockprofile", "-cpuprofile", "-memprofile", "-mutexprofile", "-outputdir", "-trace",
    "-modfile", "-overlay", "-pkgdir", "-asmflags", "-C",
}  # fmt: skip
_FAILED_PACKAGE = re.compile(r"^FAIL\s+(\S+)\s+\[(build failed|setup failed)\]", re.M)
_MARKERS = ("=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- FAIL", "--- SKIP")
_OUTPUT_CAP = 16_000  # characters of output kept per test
MAX_GO_MOD_BYTES = 256 * 1024


def recognises(command: str) -> bool:
    w = words(command)
    return len(w) >= 2 and program(w[0]) == "go" and w[1] == "test"


def module_path(root: Path) -> str | None:
    """The module path in `root`'s go.mod (read without following a link), or None."""
    from tools.paths import read_bytes

    try:
        text = read_bytes(root, root / "go.mod")[:MAX_GO_MOD_BYTES].decode("utf-8", "replace")
    except Exception:
        return None
    match = re.search(r"^\s*module\s+\"?([^\s\"]+)\"?", text, re.M)
    return match.group(1) if match else None


def package_id(import_path: str, module: str | None) -> str:
    if module and import_path == module:
        return "."
    if module and import_path.startswith(module + "/"):
        return "./" + import_path[len(module) + 1 :]
    return import_path


class GoTest:
    name = "go test"
    structured = True
    narrowable = True
    sep = SEP  # between a test's names in its id
    suffix = ".json"
    support: dict[str, str] = {}

    def command_line(self, command: str, ids: Sequence[str], extra: Sequence[str], result: str) -> str:
        w = words(command)
        head, options, packages = w[:2], *_split(w[2:])
        if ids:
            packages = sorted({split_id(t)[0] for t in ids})
            options = [o for i, o in enumerate(options) if not _is_run(options, i)]
            options += (
                ["-run", _run_pattern([split_id(t)[1] for t in ids])]
                if all(split_id(t)[1] for t in ids)
                else []
            )
        quoted = [shlex.quote(x) for x in [*head, "-json", *options]] + list(extra)
        quoted += [shlex.quote("./" + p if p.startswith("-") else p) for p in packages]
        return ENV + " ".join(quoted) + f" > {shlex.quote(result)}"

    def parse(self, data: bytes, *, output: str, root: Path, asked: Sequence[str]) -> Results:
        module = module_path(root)
        results = Results.empty()
        said: dict[tuple[str, str], list[str]] = {}
        ended: dict[str, str] = {}  # package id -> its own action
        started: set[tuple[str, str]] = set()
        text = data.decode("utf-8", "replace")
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
                action, package = str(event["Action"]), package_id(str(event["Package"]), module)
                test = str(event.get("Test") or "")
            except (ValueError, KeyError, TypeError):
                raise ResultsUnreadable(f"not a line of go test -json: {line[:200]!r}") from None
            key = (package, test)
            if action == "output":
                kept = said.setdefault(key, [])
                piece = str(event.get("Output") or "")
                if sum(map(len, kept)) < _OUTPUT_CAP and not piece.lstrip().startswith(_MARKERS):
                    kept.append(piece)
            elif action == "run" and test:
                started.add(key)
            elif action in ("pass", "fail", "skip"):
                if not test:
                    ended[package] = action
                    continue
                started.discard(key)
                outcome = {"pass": "passed", "fail": "failed", "skip": "skipped"}[action]
                results.add(f"{package}::{test}", outcome, "".join(said.get(key, [])))  # type: ignore[arg-type]
        for package, test in sorted(started):  # started and never ended: the binary died under it
            results.add(
                f"{package}::{test}", "error", "".join(said.get((package, test), [])) or "did not end"
            )
        for package, action in ended.items():
            failing = any(t.startswith(package + "::") for t in results.failing_ids())
            if action == "fail" and not failing:
                results.add(package, "error", "".join(said.get((package, ""), [])) or "the package failed")
        for match in _FAILED_PACKAGE.finditer(text + "\n" + output):
            package = package_id(match.group(1), module)
            results.add(package, "error", _build_errors(output, match.group(1)) or match.group(0))
        return results


def _build_errors(output: str, import_path: str) -> str:
    """The compiler's lines for `import_path` (the block under `# import_path ...`)."""
    lines, keep = [], False
    for line in output.splitlines():
        if line.startswith("# "):
            keep = line[2:].split(" ", 1)[0] == import_path
            continue
        if keep:
            if not line.startswith((" ", "\t")) and ":" not in line:
                keep = False
                continue
            lines.append(line)
    return trim("\n".join(lines))


def _split(rest: list[str]) -> tuple[list[str], list[str]]:
    options: list[str] = []
    packages: list[str] = []
    value_next = False
    for word in rest:
        if value_next:
            options.append(word)
            value_next = False
        elif word.startswith("-"):
            options.append(word)
            value_next = (
                word.split("=", 1)[0].lstrip("-") in {v.lstrip("-") for v in _VALUED} and "=" not in word
            )
        else:
            packages.append(word)
    return options, packages


def _is_run(options: list[str], i: int) -> bool:
    word = options[i].lstrip("-").split("=", 1)[0]
    previous = options[i - 1].lstrip("-") if i else ""
    return word == "run" or (previous == "run" and not options[i].startswith("-"))


def _run_pattern(names: list[str]) -> str:
    levels = [n.split(SEP) for n in names]
    if len(levels) == 1:
        return SEP.join(f"^{escape_regex(part)}$" for part in levels[0])
    tops = sorted({parts[0] for parts in levels})
    return "^(" + "|".join(escape_regex(t) for t in tops) + ")$"
