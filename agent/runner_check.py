"""The static check of a change's JavaScript/TypeScript and Go code: what in the code under test could make
the Node, Jest, Vitest or Go test runner report a failing test as passed. Read from git, never run; each
capability is a phrase ("patches the assertion module (assert)"), and only what the change adds to a file
counts, so a library whose CLI already called `process.exit` at the base stays fixable.

Why these: the code under test runs in the same process as the test it is judged by (a node --test child
per file, a Jest or Vitest worker, the Go test binary), so it can
- make assertions pass without checking: write to the assertion module's exports (`assert.strictEqual`),
  replace the test framework's globals (`globalThis.expect`) or built-ins the assertions rely on
  (`Object.is`), import the test framework or its internals, hook the module loader;
- forge what the runner reads: rewrite or redirect the process's output (`process.stdout.write = ...`,
  `os.Stdout = ...`, `syscall.Dup2`), print go test's framing text (`--- PASS: TestX`), serialise node's
  child-process events (the `v8` module), then exit before the real failure is reported (`process.exit`,
  `os.Exit`, `syscall.Exit`, raw system calls);
- find the harness's result file or reporter (`/proc/<pid>/cmdline`, `--test-reporter`, `be-agent`), or
  reach into the runtime (`//go:linkname`, cgo, assembly, `process.binding`).
Code built at run time (`eval`, `new Function`, a computed name on `process` or `globalThis`) is named
too, since it is how any of the above would be hidden from a pattern. This is a pattern check, not a
parser: code written to evade it (an alias of an alias, a name assembled from pieces without any of the
forms above) is not caught, which the module docstring of tools/runners/base.py states with the rest.

`js_capabilities`, `go_capabilities` and `findings` are pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

JS_SUFFIXES = (".js", ".cjs", ".mjs", ".jsx", ".ts", ".cts", ".mts", ".tsx")
GO_ASSEMBLY = (".s", ".S")  # assembled into a Go package beside its .go files

# test runners and their parts: importing one from product code is a finding
_FRAMEWORK = re.compile(
    r"^(node:test(/.*)?|jest|@jest/.*|jest-(circus|runtime|runner|environment-\w+|jasmine2|snapshot)"
    r"|vitest(/.*)?|@vitest/.*|vite-node(/.*)?|mocha|tap|ava|uvu(/.*)?|node:v8|v8)$"
)
# assertion libraries: product code may use them, but never write to them
_ASSERTION = re.compile(r"^((node:)?assert(/strict)?|chai|expect|should|power-assert|@jest/expect)$")
_SPECIFIER = re.compile(
    r"""(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s+|\bimport\s+)(['"`])([^'"`\n]{1,200})\1"""
)
_ASSERT_ALIAS = re.compile(
    r"""\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:await\s+)?(?:require|import)\s*\(\s*['"`]"""
    r"""((?:node:)?assert(?:/strict)?|chai|expect|should)['"`]\s*\)"""
    r"""|\bimport\s+(?:\*\s+as\s+)?([A-Za-z_$][\w$]*)\s*(?:,\s*\{[^}]*\})?\s+from\s+['"`]"""
    r"""((?:node:)?assert(?:/strict)?|chai|expect|should)['"`]"""
)
_WRITE_AFTER = r"\s*(?:\.\s*[\w$]+|\[[^\]\n]*\])+\s*(?:=(?!=)|\+=|\|\|=|\?\?=)"
_DIRECT_ASSERT_WRITE = re.compile(
    r"""\brequire\s*\(\s*['"`](?:node:)?assert(?:/strict)?['"`]\s*\)""" + _WRITE_AFTER
)
_GLOBALS = (
    r"expect|it|test|describe|suite|jest|vi|vitest|before|after|beforeEach|afterEach|beforeAll|afterAll"
)
_GLOBAL_WRITE = re.compile(
    rf"""\b(?:globalThis|global|self|window)\s*(?:\.\s*(?:{_GLOBALS})\b|\[\s*['"`](?:{_GLOBALS})['"`]\s*\])"""
    r"""\s*(?:=(?!=)|\|\|=|\?\?=)"""
    rf"""|\bObject\.(?:defineProperty|defineProperties|assign)\s*\(\s*(?:globalThis|global|self|window)\b"""
)
_BUILTINS = (
    r"Object|Array|Function|Error|Promise|String|Number|Boolean|Symbol|RegExp|Map|Set|Reflect|JSON|Math"
)
_BUILTIN_WRITE = re.compile(
    rf"""\b(?:{_BUILTINS})\s*(?:\.\s*prototype)?\s*\.\s*[\w$]+\s*(?:=(?!=)|\|\|=|\?\?=)"""
    rf"""|\b(?:Object|Reflect)\.(?:defineProperty|defineProperties|assign|setPrototypeOf)\s*\(\s*"""
    rf"""(?:{_BUILTINS})\b"""
)
_JS_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\bprocess\s*\.\s*(?:exit|reallyExit|abort|kill)\s*\(|\bprocess\s*\.\s*exitCode\s*="),
        "exits or kills a process (process.exit)",
    ),
    (
        re.compile(
            r"\bprocess\s*\.\s*(?:stdout|stderr)\s*(?:\.\s*(?:write|_write|_writev|end)\s*)?(?:=(?!=)|\|\|=)"
            r"|\bObject\.(?:defineProperty|assign)\s*\(\s*process\s*\.\s*(?:stdout|stderr)\b"
            r"|\bconsole\s*(?:\.\s*[\w$]+|\[[^\]\n]*\])\s*=(?!=)|\bconsole\s*=(?!=)"
            r"|\bfs\s*\.\s*(?:writeSync|write)\s*\(\s*(?:1|2|process\s*\.\s*(?:stdout|stderr)\s*\.\s*fd)\b"
        ),
        "rewrites or redirects the process's output (process.stdout.write, console)",
    ),
    (
        re.compile(
            r"\brequire\s*\.\s*(?:cache|extensions)\b|\bModule\s*\.\s*(?:_load|_resolveFilename|_cache"
            r"|_extensions|_compile|prototype\s*\.\s*(?:require|_compile))\b|\bmodule\s*\.\s*constructor\b"
            r"|\bregister(?:Hooks)?\s*\(\s*['\"`][^'\"`]*['\"`]\s*,\s*(?:import\.meta\.url|pathToFileURL)"
        ),
        "hooks the module loader (require.cache, Module._load, register)",
    ),
    (
        re.compile(r"\bprocess\s*\.\s*(?:binding|_linkedBinding)\s*\(|\binternalBinding\b|['\"`]internal/"),
        "reaches into Node's internals (process.binding)",
    ),
    (
        re.compile(
            r"\beval\s*\(|\bnew\s+Function\s*\(|\bFunction\s*\(\s*['\"`]|\b(?:runInThisContext|runInNewContext"
            r"|runInContext|compileFunction)\b|\bnew\s+vm\s*\.\s*Script\b"
        ),
        "evaluates code built at run time (eval, new Function, vm)",
    ),
    (
        re.compile(
            r"\b(?:process|globalThis|global)\s*\[(?!\s*['\"`][\w$]*['\"`]\s*\])"
            r"|\b(?:const|let|var)\s+[A-Za-z_$][\w$]*\s*=\s*(?:process|globalThis|global|console)\s*[;,\n)]"
            r"|\bReflect\s*\.\s*(?:set|defineProperty|deleteProperty)\s*\("
        ),
        "reaches process, globalThis or console through a computed name or an alias",
    ),
    (
        re.compile(
            r"/proc/|test[-_]?reporter|NODE_TEST_CONTEXT|be[-_]?agent|testResultsProcessor|['\"`]--?outputFile"
            r"|\$\$jest|jest-matchers|JEST_MATCHERS",
            re.IGNORECASE,
        ),
        "refers to the runner's reporter, results or process table (/proc, --test-reporter)",
    ),
)

_GO_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b(?:os|syscall|unix)\s*\.\s*Exit\s*\(|\bSYS_EXIT|\b(?:syscall|unix)\s*\.\s*(?:Kill|Tgkill)\s*\("
            r"|\bos\s*\.\s*FindProcess\s*\("
        ),
        "exits or kills the process (os.Exit, syscall.Exit)",
    ),
    (
        re.compile(
            r"\bos\s*\.\s*(?:Stdout|Stderr)\s*=(?!=)|&\s*os\s*\.\s*(?:Stdout|Stderr)\b"
            r"|\bos\s*\.\s*(?:Stdout|Stderr)\s*\.\s*Close\s*\(|\b(?:syscall|unix)\s*\.\s*(?:Dup2|Dup3|Close)\s*\("
            r"|\bos\s*\.\s*NewFile\s*\(\s*(?:uintptr\s*\(\s*)?[12]\b"
        ),
        "replaces or redirects the test binary's output (os.Stdout, syscall.Dup2)",
    ),
    (
        re.compile(r"\b(?:syscall|unix)\s*\.\s*(?:Raw)?Syscall6?\s*\("),
        "makes raw system calls (syscall.Syscall)",
    ),
    (
        re.compile(r"---\s*(?:PASS|FAIL|SKIP)\b|===\s*(?:RUN|PAUSE|CONT|NAME)\b|\\x16|\\026|\\u0016|\x16"),
        "prints go test's result framing (--- PASS, === RUN)",
    ),
    (
        re.compile(r"""["`]-{0,2}test\.[a-z]\w*"""),
        "refers to the test binary's flags (test.run, test.v)",
    ),
    (re.compile(r"^\s*//go:linkname\b", re.M), "links to unexported symbols (//go:linkname)"),
    (re.compile(r"""^\s*import\s+"C"|^\s*"C"\s*$""", re.M), "uses cgo (C code runs in the test binary)"),
    (
        re.compile(r"/proc/|be[-_]?agent|test2json", re.IGNORECASE),
        "refers to the harness or the process table (/proc, test2json)",
    ),
)
_GO_TESTING_IMPORT = re.compile(
    r"""^\s*(?:import\s+)?(?:[\w.]+\s+)?"testing(?:/internal/[\w/]+)?"\s*$""", re.M
)
IMPORTS_TESTING = "imports the testing package"


def is_js_source(path: str) -> bool:
    return path.endswith(JS_SUFFIXES) and not path.endswith(".d.ts")


def is_go_source(path: str) -> bool:
    return path.endswith(".go") and not path.endswith("_test.go")


def framework_import(name: str) -> str:
    return f"imports the test framework ({name})"


def js_capabilities(source: str | None) -> set[str]:
    """What a JavaScript or TypeScript module of product code does that could forge a test's result."""
    if not source:
        return set()
    found: set[str] = set()
    for match in _SPECIFIER.finditer(source):
        name = match.group(2)
        if _FRAMEWORK.match(name):
            found.add(framework_import(name))
    aliases = {
        alias
        for m in _ASSERT_ALIAS.finditer(source)
        for alias in (m.group(1), m.group(3))
        if alias is not None
    }
    writes = [
        rf"\b{re.escape(a)}{_WRITE_AFTER}"
        rf"|\b(?:Object|Reflect)\.(?:defineProperty|defineProperties|assign|setPrototypeOf|set)\s*\(\s*"
        rf"{re.escape(a)}\b"
        for a in sorted(aliases)
    ]
    if _DIRECT_ASSERT_WRITE.search(source) or any(re.search(w, source) for w in writes):
        found.add("writes to the assertion module's exports (assert)")
    if _GLOBAL_WRITE.search(source):
        found.add("replaces the test framework's globals (globalThis.expect)")
    if _BUILTIN_WRITE.search(source):
        found.add("replaces a built-in the assertions rely on (Object.is, Error.prototype)")
    for pattern, phrase in _JS_PATTERNS:
        if pattern.search(source):
            found.add(phrase)
    return found


def go_capabilities(source: str | None) -> set[str]:
    """What a non-test Go file does that could forge go test's results."""
    if not source:
        return set()
    found = {phrase for pattern, phrase in _GO_PATTERNS if pattern.search(source)}
    if _GO_TESTING_IMPORT.search(_import_section(source)):
        found.add(IMPORTS_TESTING)
    return found


def _import_section(source: str) -> str:
    """The text of a Go file's import declarations (so a string "testing" elsewhere is not an import)."""
    parts = re.findall(r"^import\s*\((.*?)^\)|^(import\s+[^\n(]+)$", source, re.M | re.S)
    return "\n".join(block or line for block, line in parts)


def capabilities(path: str, source: str | None) -> set[str]:
    if is_js_source(path):
        return js_capabilities(source)
    if is_go_source(path):
        return go_capabilities(source)
    return set()


def findings(
    changes: Iterable[tuple[str, str | None, str | None]],
    known_at_base: Iterable[str] = (),
    *,
    go_module: bool = False,
) -> list[str]:
    """One sentence per changed file of product code that newly could forge its tests' results. `changes`
    are (path, text at the base or None, text in the change); `known_at_base` are phrases the base's own
    product code already has anywhere (a library of Jest matchers imports the framework; a Go test helper
    package imports testing), which are then no finding. In a Go module (`go_module`), an assembly file the
    change adds is one too."""
    known = set(known_at_base)
    out: list[str] = []
    for path, before, after in sorted(changes):
        new = capabilities(path, after) - capabilities(path, before) - known
        if go_module and path.endswith(GO_ASSEMBLY) and before is None:
            new.add("is assembly, compiled into the Go package's test binary")
        if new:
            out.append(f"{path} {_and(sorted(new))}.")
    return out


def package_json_finding(before: str | None, after: str | None, path: str = "package.json") -> str | None:
    """A change to the Jest configuration that package.json holds (`jest`), which decides what runs before the
    tests and what reads their results (a `testResultsProcessor` rewrites them); or to its test script."""
    if after is None:
        return None
    old, new = _json(before) or {}, _json(after)
    if new is None:
        return None
    changed = [key for key in ("jest", "vitest", "mocha", "ava") if old.get(key) != new.get(key)]
    scripts_old, scripts_new = old.get("scripts"), new.get("scripts")
    scripts_old = scripts_old if isinstance(scripts_old, dict) else {}
    scripts_new = scripts_new if isinstance(scripts_new, dict) else {}
    changed += [
        f"scripts.{k}" for k in ("test", "pretest", "posttest") if scripts_old.get(k) != scripts_new.get(k)
    ]
    if not changed:
        return None
    return (
        f"{path} changes the test configuration ({', '.join(changed)}): the verdict judges with the "
        "configuration the tests had."
    )


def _json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
