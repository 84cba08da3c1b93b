"""Node's built-in runner (`node --test`, Node 20+).

Results come from a reporter of the harness's own (REPORTER, an ES module written beside the result file)
that writes one JSON line per finished test: its file relative to the working directory, its names from the
outermost suite down, and how it ended. Ids read `test/math.test.js::suite > inner > adds`; a file that
fails to load is an error with the file's path as id. A spec reporter still prints to stdout for the
reader. Suites are not tests: a suite counts only when it fails for its own reason (a hook, its body), not
because a test in it failed.

Narrowing: the asked files replace the command's file arguments, and one `--test-name-pattern` per asked
name (its last part, as a literal) selects the tests. Node 20 matches a pattern against a test's own name,
not its suites', so another test of the same name in the same files runs as well; the results of tests
not asked for are left out of the report.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Sequence
from pathlib import Path

from tools.runners.base import Results, ResultsUnreadable, escape_regex, program, split_id, words

SEP = " > "
REPORTER_NAME = "be-agent-node-reporter.mjs"
REPORTER = r"""
import { relative, isAbsolute } from 'node:path';
const clip = (s, n) => (s.length > n ? s.slice(0, n) : s);
function describe(error) {
  if (!error) return '';
  const cause = error.cause ?? error;
  const head = String(cause && cause.message !== undefined ? `${cause.name ?? 'Error'}: ${cause.message}` : cause);
  const stack = String((cause && cause.stack) || '').split('\n').filter((l) => /^\s+at /.test(l) && !l.includes('node:')).slice(0, 4);
  return clip([head, ...stack.map((l) => l.trim())].join('\n'), 4000);
}
export default async function* (source) {
  const stacks = new Map();
  for await (const event of source) {
    const data = event.data ?? {};
    const file = data.file ? (isAbsolute(data.file) ? relative(process.cwd(), data.file) : data.file) : '';
    if (event.type === 'test:start') {
      const stack = stacks.get(file) ?? [];
      stack.length = data.nesting;
      stack.push(String(data.name));
      stacks.set(file, stack);
      continue;
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const stack = (stacks.get(file) ?? []).slice(0, data.nesting);
    const details = data.details ?? {};
    const error = details.error;
    const whole = data.nesting === 0 && data.file && String(data.name) === String(data.file);
    yield JSON.stringify({
      file,
      path: whole ? [] : [...stack, String(data.name)],
      passed: event.type === 'test:pass',
      skipped: Boolean(data.skip) || Boolean(data.todo),
      suite: details.type === 'suite',
      subtests: Boolean(error && (error.failureType === 'subtestsFailed' || (error.cause && error.cause.failureType === 'subtestsFailed'))),
      message: event.type === 'test:fail' ? describe(error) : '',
    }) + '\n';
  }
}
"""
# options of node that take a value as the next word (so that word is not a file)
_VALUED = {
    "--import",
    "--require",
    "-r",
    "--loader",
    "--experimental-loader",
    "--test-reporter",
    "--test-reporter-destination",
    "--test-name-pattern",
    "--test-concurrency",
    "--test-timeout",
    "--conditions",
    "-C",
    "--env-file",
}


def recognises(command: str) -> bool:
    w = words(command)
    return bool(w) and program(w[0]) == "node" and "--test" in w


class NodeTest:
    name = "node:test"
    structured = True
    narrowable = True
    sep = SEP  # between a test's names in its id
    suffix = ".jsonl"
    support = {REPORTER_NAME: REPORTER}

    def command_line(self, command: str, ids: Sequence[str], extra: Sequence[str], result: str) -> str:
        w = words(command)
        at = w.index("--test") + 1 if "--test" in w else len(w)
        head, tail = w[:at], w[at:]
        reporter = posixpath.join(posixpath.dirname(result), REPORTER_NAME)
        ours = [
            f"--test-reporter={reporter}",
            f"--test-reporter-destination={result}",
            "--test-reporter=spec",
            "--test-reporter-destination=stdout",
        ]
        if ids:
            tail = _options_only(tail)
            files = sorted({split_id(t)[0] for t in ids})
            names = sorted({split_id(t)[1].split(SEP)[-1] for t in ids if split_id(t)[1]})
            if all(split_id(t)[1] for t in ids):  # a bare file asked for runs whole: no name patterns
                ours += [f"--test-name-pattern=^{escape_regex(n)}$" for n in names]
            tail += ["./" + f if f.startswith("-") else f for f in files]
        quoted = [shlex.quote(x) for x in [*head, *ours]] + list(extra) + [shlex.quote(x) for x in tail]
        return " ".join(quoted)

    def parse(self, data: bytes, *, output: str, root: Path, asked: Sequence[str]) -> Results:
        results = Results.empty()
        for line in data.decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                file, path = str(record["file"]), [str(p) for p in record["path"]]
            except (ValueError, KeyError, TypeError):
                raise ResultsUnreadable(f"not a line the reporter writes: {line[:200]!r}") from None
            if record.get("suite") and (record.get("passed") or record.get("subtests")):
                continue
            test_id = f"{file}::{SEP.join(path)}" if path else file
            if record.get("passed"):
                results.add(test_id, "skipped" if record.get("skipped") else "passed")
            else:
                results.add(test_id, "failed" if path else "error", str(record.get("message") or ""))
        return results


def _options_only(tail: list[str]) -> list[str]:
    """The option words of what follows `--test` (its file arguments dropped)."""
    kept: list[str] = []
    value_next = False
    for word in tail:
        if value_next:
            kept.append(word)
            value_next = False
        elif word == "--":
            break
        elif word.startswith("-"):
            kept.append(word)
            value_next = word in _VALUED
    return kept
