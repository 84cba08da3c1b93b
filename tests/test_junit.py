"""JUnit XML from real pytest runs becomes exact node ids: the ids `pytest --collect-only` prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.junit import MESSAGE_LIMIT, node_id, parse_junit, trim_failure

NASTY = """
import pytest

@pytest.mark.parametrize("value", ["a b", 'say "hi"', "it's", "br[ack]et", "x::y", "caf\\u00e9", "tab\\there",
                                   "", "sl/ash", "dash-ed", "\\u65e5\\u672c"])
def test_param(value):
    assert value != "dash-ed", "dashes are not allowed"

@pytest.mark.parametrize("a,b", [(1, "x y"), (2, "[z]")], ids=["first id", "sec[ond] :: id"])
def test_ids(a, b):
    pass

class TestOuter:
    @pytest.mark.parametrize("q", ['a b-"q"'])
    def test_method(self, q):
        pass

    class TestInner:
        def test_deep(self):
            assert 1 == 2

@pytest.fixture
def broken_db():
    raise RuntimeError("database is down")

def test_uses_fixture(broken_db):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.xfail(strict=True)
def test_xpass_strict():
    pass
"""

BASE_CASES = """
class BaseCases:
    def test_inherited(self):
        assert self.value == 2

def test_shared():
    pass
"""

INHERIT = """
from base_cases import BaseCases, test_shared  # noqa: F401

class TestConcrete(BaseCases):
    value = 1
"""


def write_suite(root: Path) -> Path:
    files = {
        "pytest.ini": "[pytest]\n",
        "tests/test_nasty.py": NASTY,
        "tests/base_cases.py": BASE_CASES,
        "tests/test_inherit.py": INHERIT,
        "pkg.v2/tests/test_dotted_dir.py": "class TestDots:\n    def test_it(self):\n        pass\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def run_pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }  # faster, and the outer run's plugins stay out
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def collected_ids(root: Path) -> set[str]:
    out = run_pytest(root, "--collect-only", "-q").stdout
    ids = set()
    for line in out.splitlines():
        if not line.strip():
            break
        ids.add(line)
    return ids


def junit_results(root: Path, *args: str) -> tuple[dict[str, str], dict[str, str]]:
    xml = root.parent / f"{root.name}-junit.xml"
    run_pytest(root, "-o", "junit_family=xunit1", f"--junitxml={xml}", *args)
    outcomes, messages = parse_junit(xml.read_bytes(), root=root)
    return dict(outcomes), messages


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], dict[str, str]]:
    root = write_suite(tmp_path_factory.mktemp("nasty"))
    outcomes, messages = junit_results(root)
    return root, outcomes, messages


def test_ids_are_exactly_the_collected_node_ids(suite: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    root, outcomes, _ = suite
    expected = collected_ids(root)
    assert len(expected) == 21
    assert set(outcomes) == expected


def test_nasty_ids_survive_verbatim(suite: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    _, outcomes, _ = suite
    for test_id in [
        "tests/test_nasty.py::test_param[a b]",
        'tests/test_nasty.py::test_param[say "hi"]',
        "tests/test_nasty.py::test_param[br[ack]et]",
        "tests/test_nasty.py::test_param[x::y]",
        "tests/test_nasty.py::test_param[caf\\xe9]",
        "tests/test_nasty.py::test_ids[sec[ond] :: id]",
        'tests/test_nasty.py::TestOuter::test_method[a b-"q"]',
        "tests/test_nasty.py::TestOuter::TestInner::test_deep",
        "pkg.v2/tests/test_dotted_dir.py::TestDots::test_it",
        "tests/test_inherit.py::TestConcrete::test_inherited",
        "tests/test_inherit.py::test_shared",
    ]:
        assert test_id in outcomes, test_id


def test_outcomes_and_trimmed_messages(suite: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    _, outcomes, messages = suite
    assert outcomes["tests/test_nasty.py::test_param[dash-ed]"] == "failed"
    assert outcomes["tests/test_nasty.py::test_param[a b]"] == "passed"
    assert outcomes["tests/test_nasty.py::test_uses_fixture"] == "error"
    assert outcomes["tests/test_nasty.py::test_skipped"] == "skipped"
    assert outcomes["tests/test_nasty.py::test_xpass_strict"] == "failed"
    assert outcomes["tests/test_inherit.py::TestConcrete::test_inherited"] == "failed"
    dash = messages["tests/test_nasty.py::test_param[dash-ed]"]
    assert "AssertionError: dashes are not allowed" in dash
    assert "tests/test_nasty.py:7: AssertionError" in dash
    assert "assert 1 == 2" in messages["tests/test_nasty.py::TestOuter::TestInner::test_deep"]
    assert "RuntimeError: database is down" in messages["tests/test_nasty.py::test_uses_fixture"]
    assert "tests/test_nasty.py::test_param[a b]" not in messages
    assert all(len(m) <= MESSAGE_LIMIT + 60 for m in messages.values())


def test_collection_errors_are_errors_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    (tmp_path / "tests" / "test_broken.py").write_text("import not_a_module_anywhere\n")
    outcomes, messages = junit_results(tmp_path)
    assert outcomes == {"tests/test_broken.py": "error"}
    assert "ModuleNotFoundError: No module named 'not_a_module_anywhere'" in messages["tests/test_broken.py"]


def test_without_a_file_attribute_the_path_is_found_on_disk(tmp_path: Path) -> None:
    (tmp_path / "pkg.v2" / "tests").mkdir(parents=True)
    (tmp_path / "pkg.v2" / "tests" / "test_x.py").write_text("")
    assert node_id("pkg.v2.tests.test_x.TestA", "test_b[a.b]", None, root=tmp_path) == (
        "pkg.v2/tests/test_x.py::TestA::test_b[a.b]"
    )
    assert node_id("pkg.v2.tests.test_x", "test_c", None, root=tmp_path) == "pkg.v2/tests/test_x.py::test_c"


def test_trim_failure_keeps_the_assertion_and_frame_lines() -> None:
    text = "\n".join(
        [
            "    def test_x():",
            "        value = compute()",
            ">       assert value == 3",
            "E       assert 2 == 3",
            "",
            "tests/test_x.py:9: AssertionError",
        ]
        + [f"noise line {n}" for n in range(500)]
    )
    trimmed = trim_failure("assert 2 == 3", text)
    assert trimmed == ">       assert value == 3\nE       assert 2 == 3\ntests/test_x.py:9: AssertionError"
    long = trim_failure("x", "\n".join(f"E   line {n}" for n in range(1000)))
    assert len(long) <= MESSAGE_LIMIT + 60 and "E   line 999" in long and "characters cut" in long
