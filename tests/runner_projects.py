"""Tiny projects for each test runner, written by the tests: a library with a bug and its tests (real node,
go, jest and vitest run them). Jest and Vitest come from `make npm-fixtures` (pinned, in .cache/)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NPM_FIXTURES = ROOT / ".cache" / "npm-fixtures" / "node_modules"
needs_node = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not installed (make toolchains)"
)
needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="go is not installed (make toolchains)")
needs_npm_fixtures = pytest.mark.skipif(
    not (NPM_FIXTURES / ".bin" / "jest").exists(),
    reason="jest and vitest are not installed (make npm-fixtures)",
)

NODE_LIB = "exports.add = (a, b) => a - b;\nexports.mul = (a, b) => a * b;\n"
NODE_TESTS = """const { describe, it } = require('node:test');
const assert = require('node:assert');
const { add, mul } = require('../lib/math.js');
describe('math', () => {
  it('adds two numbers', () => { assert.strictEqual(add(2, 3), 5); });
  it('multiplies', () => { assert.strictEqual(mul(2, 3), 6); });
  describe('more', () => { it('adds two numbers', () => { assert.strictEqual(add(0, 0), 0); }); });
});
"""
JEST_TESTS = """const { add, mul } = require('../lib/math.js');
describe('math', () => {
  test('adds two numbers', () => { expect(add(2, 3)).toBe(5); });
  test('multiplies', () => { expect(mul(2, 3)).toBe(6); });
  describe('more', () => { test('adds two numbers', () => { expect(add(0, 0)).toBe(0); }); });
});
"""
VITEST_TESTS = "import { describe, test, expect } from 'vitest';\n" + JEST_TESTS.replace(
    "const { add, mul } = require('../lib/math.js');", "import { add, mul } from '../lib/math.js';"
)
GO_LIB = (
    "package calc\n\nfunc Add(a, b int) int { return a - b }\n\nfunc Mul(a, b int) int { return a * b }\n"
)
GO_TESTS = """package calc

import "testing"

func TestAdd(t *testing.T) {
	if got := Add(2, 3); got != 5 {
		t.Fatalf("Add(2, 3) = %d, want 5", got)
	}
}

func TestMul(t *testing.T) {
	t.Run("small numbers", func(t *testing.T) {
		if Mul(2, 3) != 6 {
			t.Error("Mul(2, 3) != 6")
		}
	})
}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def node_project(root: Path) -> Path:
    package = {"name": "calc", "private": True, "scripts": {"test": "node --test"}}
    return write(
        root, {"package.json": json.dumps(package), "lib/math.js": NODE_LIB, "test/math.test.js": NODE_TESTS}
    )


def go_project(root: Path) -> Path:
    return write(
        root,
        {
            "go.mod": "module example.com/calc\n\ngo 1.19\n",
            "calc/calc.go": GO_LIB,
            "calc/calc_test.go": GO_TESTS,
            "main.go": "package main\n\nfunc main() {}\n",
        },
    )


def js_project(root: Path, runner: str) -> Path:
    """A Jest or Vitest project; its node_modules is a copy of the pinned install's links (a symlink would
    point outside the tree)."""
    package = {"name": "calc", "private": True, "scripts": {"test": runner}}
    if runner == "vitest":
        package["type"] = "module"
        lib = "export const add = (a, b) => a - b;\nexport const mul = (a, b) => a * b;\n"
        files = {"lib/math.js": lib, "test/math.test.js": VITEST_TESTS}
    else:
        files = {"lib/math.js": NODE_LIB, "test/math.test.js": JEST_TESTS}
    write(root, {"package.json": json.dumps(package), ".gitignore": "node_modules/\n", **files})
    os.symlink(NPM_FIXTURES, root / "node_modules")
    return root
