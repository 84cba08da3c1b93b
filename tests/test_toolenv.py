"""Node.js and Go in the sandbox, their caches and the user's untracked node_modules/vendor shown read-only in
the checkout, and the repository's setup step (network there only, its output never part of the change).

No network at run time: "network only during setup" is a tiny HTTP server on the host's loopback, which a
sandbox with network reaches (it shares the host's network namespace) and one without cannot (its own).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import RunRequest, build_request
from agent.config_file import resolve_settings
from agent.errors import UsageError
from agent.lang_toolchains import find_lang_toolchain, go_module_cache, merged_env, npm_cache, seed_npm_cache
from agent.run import run_task
from agent.scripted_model import ScriptedModel, call, turn
from agent.settings import RunSettings
from agent.setup_step import SetupFailed, SetupResult, prepare_environment, run_setup
from agent.workspace import changed_paths
from sandbox.base import SandboxConfig
from sandbox.bwrap import BwrapSandbox, checkout_mount_args
from sandbox.inner import inner_place
from sandbox.unconfined import UnconfinedSandbox
from tests.conftest import run_cli
from tests.sandbox_fixtures import git, make_repo, needs_bwrap
from tests.scripts import REPORT

GO = Path("/usr/bin/go")
NODE = Path("/usr/bin/node")
needs_go = pytest.mark.skipif(not GO.exists(), reason="go is not installed (make toolchains)")
needs_node = pytest.mark.skipif(not NODE.exists(), reason="node is not installed (make toolchains)")


@pytest.fixture(autouse=True)
def _own_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test walks the developer's own npm or Go caches: each gets empty ones unless it makes its own."""
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "no-npm-cache"))
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "no-go-cache"))


# --- places inside the checkout ------------------------------------------------------------------------------


def test_a_place_inside_the_checkout_is_refused_when_a_link_would_move_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    source = tmp_path / "deps"
    source.mkdir()
    assert inner_place(tree, str(source), "node_modules") == tree / "node_modules"
    assert inner_place(tree, str(source), "pkg/node_modules") == tree / "pkg" / "node_modules"
    for bad in ("../x", "/abs", ".git/hooks", "a/../b", "", "./x"):
        assert inner_place(tree, str(source), bad) is None, bad
    assert inner_place(tree, str(source), "missing/node_modules") is None
    (tree / "linked").symlink_to("/etc")  # a link on the way
    assert inner_place(tree, str(source), "linked/node_modules") is None
    (tree / "node_modules").symlink_to("/usr")  # a link at the place
    assert inner_place(tree, str(source), "node_modules") is None
    (tree / "vendor").write_text("a file where a directory goes\n")
    assert inner_place(tree, str(source), "vendor") is None


def test_bwrap_mounts_the_inner_places_read_only_on_top_and_leaves_out_a_linked_one(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "evil").symlink_to("/root")
    source = tmp_path / "deps"
    source.mkdir()
    args = checkout_mount_args(tree, "/w", (), ((str(source), "node_modules"), (str(source), "evil")))
    assert args[-3:] == ["--ro-bind-try", str(source), "/w/node_modules"]
    assert "/w/evil" not in args


@needs_bwrap
def test_an_inner_mount_is_visible_and_read_only_in_bwrap(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    deps = tmp_path / "deps"
    (deps / "lib").mkdir(parents=True)
    (deps / "lib" / "index.js").write_text("module.exports = 42;\n")
    config = SandboxConfig(inner_ro_mounts=((str(deps), "node_modules"),))
    box = BwrapSandbox(repo, tmp_path / "scratch", config)
    try:
        seen = box.run("cat node_modules/lib/index.js && touch node_modules/x; echo rc=$?")
    finally:
        box.close()
    assert "module.exports = 42;" in seen.output
    assert "Read-only file system" in seen.output and "rc=1" in seen.output
    assert not (deps / "x").exists()
    # the empty mount point bwrap made is not a change
    assert git(repo, "status", "--porcelain") == ""


def test_without_a_sandbox_an_inner_mount_is_a_link(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    deps = tmp_path / "deps"
    deps.mkdir()
    UnconfinedSandbox(repo, tmp_path / "scratch", SandboxConfig(inner_ro_mounts=((str(deps), "nm"),))).close()
    assert os.readlink(repo / "nm") == str(deps)


# --- finding Node.js and Go, and the user's directories ------------------------------------------------------


def _node_repo(path: Path) -> Path:
    repo = make_repo(path)
    (repo / "package.json").write_text(json.dumps({"name": "x", "scripts": {"test": "node --test"}}))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "node")
    return repo


def test_the_users_untracked_node_modules_is_shown(tmp_path: Path) -> None:
    repo = _node_repo(tmp_path / "repo")
    (repo / "node_modules" / "dep").mkdir(parents=True)
    found = find_lang_toolchain(repo, repo, environ={"PATH": "/usr/bin:/bin"}, home=str(tmp_path / "home"))
    assert found.inner_mounts == ((str(repo / "node_modules"), "node_modules"),)
    none = find_lang_toolchain(repo, repo, environ={}, home=str(tmp_path / "home"), user_dirs=False)
    assert none.inner_mounts == ()


@pytest.mark.parametrize("target", ["home", "root", "repo-parent"])
def test_a_node_modules_link_to_a_wide_directory_is_refused(tmp_path: Path, target: str) -> None:
    home = tmp_path / "home"
    repo = _node_repo(home / "src" / "repo")
    (repo / "node_modules").symlink_to({"home": home, "root": Path("/"), "repo-parent": repo.parent}[target])
    found = find_lang_toolchain(repo, repo, environ={}, home=str(home))
    assert found.inner_mounts == ()
    assert any("node_modules was not mounted" in note for note in found.notes)


def test_a_tracked_node_modules_link_is_never_mounted(tmp_path: Path) -> None:
    """The attack: the repository commits `node_modules -> /root/.ssh`; mounting what it names would show
    host files to the repository's code."""
    home = tmp_path / "home"
    secret = home / ".ssh"
    secret.mkdir(parents=True)
    repo = _node_repo(tmp_path / "repo")
    (repo / "node_modules").symlink_to(secret)
    git(repo, "add", "node_modules")
    git(repo, "commit", "-q", "-m", "link")
    found = find_lang_toolchain(repo, repo, environ={}, home=str(home))
    assert found.inner_mounts == ()
    assert any("tracked" in note for note in found.notes)


def test_the_go_module_cache_is_found_without_running_go(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "go" / "pkg" / "mod").mkdir(parents=True)
    (tmp_path / "gp" / "pkg" / "mod").mkdir(parents=True)
    (tmp_path / "mc").mkdir()
    assert go_module_cache({}, str(home)) == str(home / "go" / "pkg" / "mod")
    assert go_module_cache({"GOPATH": f"{tmp_path / 'gp'}:/x"}, str(home)) == str(tmp_path / "gp/pkg/mod")
    assert go_module_cache({"GOMODCACHE": str(tmp_path / "mc")}, str(home)) == str(tmp_path / "mc")
    assert go_module_cache({"GOMODCACHE": "relative"}, str(home)) is None


def test_a_go_module_gets_the_cache_read_only_and_a_vendor_directory_means_vendor_mode(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    repo = make_repo(tmp_path / "repo")
    (repo / "go.mod").write_text("module example.com/app\n\ngo 1.19\n")
    cache = tmp_path / "modcache"
    cache.mkdir()
    found = find_lang_toolchain(repo, repo, environ={"GOMODCACHE": str(cache)}, home=str(home))
    assert str(cache) in found.mounts
    assert found.env["GOMODCACHE"] == str(cache)
    assert found.env["GOFLAGS"] == "-mod=readonly" and found.env["GOPROXY"] == "off"
    # setup gets its own writable cache, with the user's as a read-only proxy
    assert found.setup_env["GOMODCACHE"] == "/tmp/go-mod"
    assert found.setup_env["GOPROXY"].startswith(f"file://{cache}/cache/download,")
    (repo / "vendor").mkdir()
    vendored = find_lang_toolchain(repo, repo, environ={"GOMODCACHE": str(cache)}, home=str(home))
    assert vendored.env["GOFLAGS"] == "-mod=vendor"
    # a module cache that would expose the home directory or the repository is not mounted
    for wide in (home, repo.parent):
        refused = find_lang_toolchain(repo, repo, environ={"GOMODCACHE": str(wide)}, home=str(home))
        assert str(wide) not in refused.mounts and "GOMODCACHE" not in refused.env


def test_paths_merge_with_the_first_toolchain_first() -> None:
    merged = merged_env({"PATH": "/venv/bin:/usr/bin", "A": "1"}, {"PATH": "/node/bin:/usr/bin", "B": "2"})
    assert merged == {"PATH": "/venv/bin:/usr/bin:/node/bin", "A": "1", "B": "2"}


# --- who may turn the setup step's network on ----------------------------------------------------------------


def _settings(repo: Path, **flags: object) -> RunSettings:
    accept = bool(flags.pop("accept", False))
    return resolve_settings(flags, repo=repo, environ={}, accept_repo_sandbox=accept)


def test_a_repositorys_setup_command_needs_the_users_word_on_network(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / ".be-agent.toml").write_text('setup = "npm ci"\n')
    with pytest.raises(UsageError, match="--network-setup on or --network-setup off"):
        _settings(repo)
    (repo / ".be-agent.toml").write_text('setup = "npm ci"\nnetwork-setup = true\n')
    with pytest.raises(UsageError, match="--accept-repo-sandbox"):
        _settings(repo)
    assert _settings(repo, network_setup=True).network_setup is True
    assert _settings(repo, network_setup=False).network_setup is False
    assert _settings(repo, accept=True).network_setup is True
    (repo / ".be-agent.toml").write_text('setup = "npm ci"\nnetwork-setup = false\n')
    assert _settings(repo).network_setup is False
    (repo / ".be-agent.toml").unlink()
    assert _settings(repo, setup="npm ci").network_setup is True  # the user's own command


# --- the setup step ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server on the host's loopback serving `lib.js`: the "registry" of these tests."""
    root = tmp_path_factory.mktemp("registry")
    (root / "lib.js").write_text("module.exports = { double: (x) => 2 * x };\n")
    package = root / "package"
    package.mkdir()
    (package / "package.json").write_text('{"name": "tinylib", "version": "1.0.0", "main": "index.js"}')
    (package / "index.js").write_text("module.exports = 'tiny';\n")
    with tarfile.open(root / "tinylib-1.0.0.tgz", "w:gz") as archive:
        archive.add(package, arcname="package")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/lib.js"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str, dest: str) -> str:
    """A shell command that downloads `url` into `dest` (exit 1 when it cannot)."""
    code = "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])"
    return f"mkdir -p $(dirname {dest}) && python3 -c '{code}' {url} {dest}"


def _setup(repo: Path, tmp_path: Path, command: str, *, network: bool, where: str = "setup") -> SetupResult:
    """`command` as the setup step runs it: in a bwrap sandbox of the checkout, outputs and log in the run dir."""
    box = BwrapSandbox(repo, tmp_path / "setup-tmp", SandboxConfig(network=network, workdir=str(repo)))
    run_dir = tmp_path / "run"
    try:
        return run_setup(
            command,
            box,
            repo,
            run_dir / "setup-output",
            run_dir / "setup.log",
            timeout=60,
            where=where,
            network=network,
        )
    finally:
        box.close()


@needs_bwrap
def test_setup_with_network_fetches_and_its_outputs_leave_the_checkout(tmp_path: Path, served: str) -> None:
    repo = _node_repo(tmp_path / "run" / "checkout")
    (repo / ".gitignore").write_text("node_modules/\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "ignore")
    command = (
        f"{fetch(served, 'node_modules/lib/index.js')} && echo changed >> README.md "
        "&& ln -s /root escape && echo fetched"
    )
    done = _setup(repo, tmp_path, command, network=True)
    store = tmp_path / "run" / "setup-output"
    assert done.outputs == ((str(store / "node_modules"), "node_modules"),)
    assert (store / "node_modules" / "lib" / "index.js").read_text().startswith("module.exports")
    assert done.dropped == ("escape",)  # a link setup left is removed, never mounted
    assert done.restored == ("README.md",)  # tracked files are put back
    assert "fetched" in (tmp_path / "run" / "setup.log").read_text()
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    # shown again in the checkout, it is excluded from the change
    (repo / "node_modules").mkdir()
    (repo / "node_modules" / "x").write_text("x")
    (repo / "escape").write_text("x")
    assert git(repo, "status", "--porcelain") == ""


@needs_bwrap
def test_setup_without_network_cannot_fetch_and_fails_with_its_last_lines(
    tmp_path: Path, served: str
) -> None:
    repo = _node_repo(tmp_path / "run" / "checkout")
    with pytest.raises(SetupFailed) as caught:
        _setup(
            repo,
            tmp_path,
            f"echo starting; {fetch(served, 'node_modules/lib/index.js')}",
            network=False,
            where="setup in .be-agent.toml",
        )
    message = caught.value.message
    assert caught.value.exit_code == 2
    assert "exited 1" in message and "setup in .be-agent.toml" in message
    assert "URLError" in message.splitlines()[-1] or "Errno" in message
    assert "[exit 1]" in (tmp_path / "run" / "setup.log").read_text()


# --- Go: a module whose dependency is only in a read-only module cache ---------------------------------------


def _go_fixture(root: Path) -> tuple[Path, Path]:
    """A module `example.com/app` using `example.com/dep` v1.0.0, published offline into a module cache
    through a file:// proxy (no network): returns (repository, module cache)."""
    dep = root / "dep"
    dep.mkdir(parents=True)
    (dep / "go.mod").write_text("module example.com/dep\n\ngo 1.19\n")
    (dep / "dep.go").write_text("package dep\n\nfunc Double(x int) int { return 2 * x }\n")
    versions = root / "proxy" / "example.com" / "dep" / "@v"
    versions.mkdir(parents=True)
    (versions / "list").write_text("v1.0.0\n")
    (versions / "v1.0.0.info").write_text('{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}')
    (versions / "v1.0.0.mod").write_text((dep / "go.mod").read_text())
    with zipfile.ZipFile(versions / "v1.0.0.zip", "w") as archive:
        for name in ("go.mod", "dep.go"):
            archive.write(dep / name, f"example.com/dep@v1.0.0/{name}")
    repo = make_repo(root / "app")
    (repo / "go.mod").write_text("module example.com/app\n\ngo 1.19\n\nrequire example.com/dep v1.0.0\n")
    (repo / "app.go").write_text(
        'package app\n\nimport "example.com/dep"\n\nfunc Quad(x int) int { return dep.Double(dep.Double(x)) }\n'
    )
    (repo / "app_test.go").write_text(
        'package app\n\nimport "testing"\n\nfunc TestQuad(t *testing.T) {\n\tif Quad(2) != 8 {\n'
        '\t\tt.Fatal("bad")\n\t}\n}\n'
    )
    cache = root / "modcache"
    env = {
        **os.environ,
        "GOMODCACHE": str(cache),
        "GOPROXY": f"file://{root / 'proxy'}",
        "GOSUMDB": "off",
        "GOFLAGS": "-mod=mod",
        "GOCACHE": str(root / "gocache"),
    }
    subprocess.run(["go", "mod", "tidy"], cwd=repo, env=env, check=True, capture_output=True)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "app")
    return repo, cache


@pytest.mark.slow
@needs_go
@needs_bwrap
def test_a_go_module_tests_in_the_sandbox_with_its_dependency_from_the_read_only_cache(
    tmp_path: Path,
) -> None:
    repo, cache = _go_fixture(tmp_path)
    found = find_lang_toolchain(repo, repo, environ={"GOMODCACHE": str(cache)}, home=str(tmp_path / "home"))
    config = SandboxConfig(extra_ro_paths=found.mounts, extra_env=found.env, workdir=str(repo))
    box = BwrapSandbox(repo, tmp_path / "scratch", config)
    try:
        tested = box.run("go test ./... 2>&1", timeout=300)
        written = box.run("touch $GOMODCACHE/planted; go clean -modcache 2>&1; ls $GOMODCACHE")
    finally:
        box.close()
    assert tested.exit_code == 0, tested.output
    assert "ok  \texample.com/app" in tested.output
    assert "Read-only file system" in written.output or "permission denied" in written.output
    assert not (cache / "planted").exists() and (cache / "example.com").is_dir()


# --- a whole run: the setup step installs a dependency the tests use; the model stays offline ----------------

INDEX_JS = "const { double } = require('lib');\nexports.quad = (x) => double(double(x)) + 1;\n"
TEST_JS = (
    "const test = require('node:test');\nconst assert = require('node:assert');\n"
    "const { quad } = require('../index.js');\n\ntest('quad', () => assert.strictEqual(quad(2), 8));\n"
)


def _node_project(path: Path, setup: str) -> Path:
    repo = _node_repo(path)
    (repo / "index.js").write_text(INDEX_JS)
    (repo / "test").mkdir()
    (repo / "test" / "quad.test.js").write_text(TEST_JS)
    (repo / ".gitignore").write_text("node_modules/\n")
    (repo / ".be-agent.toml").write_text(f'setup = {json.dumps(setup)}\ntest-cmd = "node --test"\n')
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "quad")
    return repo


def _request(repo: Path, state: Path, *, network_setup: bool) -> RunRequest:
    settings = resolve_settings(
        {"network_setup": network_setup, "sandbox": "bwrap", "state_dir": state}, repo=repo, environ={}
    )
    return build_request(settings, repo=repo, task="quad(2) must be 8", keep=True, quiet=True)


@pytest.mark.slow
@needs_node
@needs_bwrap
def test_a_run_whose_setup_fetched_a_dependency_is_fixed_and_the_model_stayed_offline(
    tmp_path: Path, served: str
) -> None:
    repo = _node_project(tmp_path / "repo", fetch(served, "node_modules/lib/index.js"))
    probe = (
        f"{fetch(served, '/tmp/copy.js')}; echo fetch=$?; echo planted > node_modules/lib/index.js; "
        "echo write=$?; cat node_modules/lib/index.js"
    )
    model = ScriptedModel(
        [
            turn(call("bash", "b1", command=probe)),
            turn(call("bash", "b2", command="sed -i 's/ + 1//' index.js && node --test 2>&1 | tail -3")),
            turn(call("run_tests", "t1")),
            turn(call("finish", "f1", **REPORT)),
        ]
    )
    result = run_task(_request(repo, tmp_path / "state", network_setup=True), model=model)
    observation = json.dumps(model.requests[1][-1])
    assert "fetch=1" in observation and "write=1" in observation  # offline, and node_modules read-only
    assert "double: (x) => 2 * x" in observation
    assert result.status == "fixed", result.reason
    run_dir = Path(result.run_dir)
    assert "$ mkdir -p" in (run_dir / "setup.log").read_text()
    changed = git(repo, "diff", "--name-only", f"{result.base}..{result.branch}").split()
    assert changed == ["index.js"]  # what setup made is no part of the branch
    assert "node_modules" not in Path(result.diff).read_text()
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "setup_step" and e.get("network") is True for e in events)


@pytest.mark.slow
@needs_bwrap
def test_a_run_whose_setup_cannot_reach_the_network_ends_with_exit_2_and_the_last_lines(
    tmp_path: Path, served: str
) -> None:
    repo = _node_project(tmp_path / "repo", f"echo first-line; {fetch(served, 'node_modules/lib/index.js')}")
    with pytest.raises(UsageError) as caught:
        run_task(_request(repo, tmp_path / "state", network_setup=False), model=ScriptedModel([]))
    assert caught.value.exit_code == 2
    assert "the setup command" in caught.value.message and "exited 1" in caught.value.message
    assert "setup.log" in caught.value.message


def test_the_cli_asks_for_a_decision_on_a_repositorys_setup_network(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / ".be-agent.toml").write_text('setup = "npm ci"\n')
    asked = run_cli("run", "--repo", str(repo), "--task", "t", "--state-dir", str(tmp_path / "state"))
    assert asked.code == 2 and "--network-setup on or --network-setup off" in asked.stderr
    wrong = run_cli("run", "--repo", str(repo), "--task", "t", "--network-setup", "maybe")
    assert wrong.code == 2 and "must be on or off" in wrong.stderr
    assert not (tmp_path / "state").exists()


@pytest.mark.slow
@needs_go
@needs_bwrap
def test_go_mod_vendor_in_an_offline_setup_works_from_the_users_cache_and_the_tests_use_vendor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, cache = _go_fixture(tmp_path)
    monkeypatch.setenv("GOMODCACHE", str(cache))
    checkout = tmp_path / "run" / "checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))
    req = RunRequest(repo=repo, task="t", setup="go mod vendor", network_setup=False, sandbox="bwrap")
    config, _, done = prepare_environment(req, repo, checkout, SandboxConfig(workdir=str(repo)))
    assert done is not None and [rel for _, rel in done.outputs] == ["vendor"]
    assert config.extra_env["GOFLAGS"] == "-mod=vendor"
    box = BwrapSandbox(checkout, tmp_path / "scratch", config)
    try:
        tested = box.run("go test ./... 2>&1 && ls vendor/example.com/dep", timeout=300)
    finally:
        box.close()
    assert tested.exit_code == 0, tested.output
    assert "dep.go" in tested.output
    assert not list(cache.glob("cache/download/**/*.partial"))


def test_the_npm_cache_is_offered_as_links_and_a_copied_index(tmp_path: Path) -> None:
    cache = tmp_path / "npm" / "_cacache"
    (cache / "content-v2" / "sha512" / "ab").mkdir(parents=True)
    (cache / "content-v2" / "sha512" / "ab" / "cd").write_text("tarball")
    (cache / "content-v2" / "sha512" / "ab" / "link").symlink_to("/root/.ssh/id_rsa")
    (cache / "index-v5" / "00").mkdir(parents=True)
    (cache / "index-v5" / "00" / "bucket").write_text("entry")
    assert npm_cache({"npm_config_cache": str(tmp_path / "npm")}, "/nowhere") == str(cache)
    assert npm_cache({}, str(tmp_path)) is None  # no ~/.npm there
    dest = tmp_path / "seeded"
    assert seed_npm_cache(str(cache), dest)
    linked = dest / "_cacache" / "content-v2" / "sha512" / "ab" / "cd"
    assert os.readlink(linked) == str(cache / "content-v2" / "sha512" / "ab" / "cd")
    assert not os.path.lexists(dest / "_cacache" / "content-v2" / "sha512" / "ab" / "link")
    copied = dest / "_cacache" / "index-v5" / "00" / "bucket"
    assert not copied.is_symlink() and copied.read_text() == "entry"


def _snapshot(tree: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(tree)), p.lstat().st_size, p.lstat().st_mtime_ns) for p in tree.rglob("*")
    )


@pytest.mark.slow
@needs_node
@needs_bwrap
def test_an_offline_npm_setup_installs_from_the_users_cache_without_writing_it(
    tmp_path: Path, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tarball = served.rsplit("/", 1)[0] + "/tinylib-1.0.0.tgz"
    user_npm = tmp_path / "user-npm"
    warm = tmp_path / "warm"
    warm.mkdir()
    quiet = ["--ignore-scripts", "--no-audit", "--no-fund", "--no-save", "--no-package-lock"]
    subprocess.run(
        ["npm", "install", *quiet, tarball],
        cwd=warm,
        env={**os.environ, "npm_config_cache": str(user_npm), "npm_config_update_notifier": "false"},
        check=True,
        capture_output=True,
    )
    before = _snapshot(user_npm / "_cacache")
    repo = _node_repo(tmp_path / "repo")
    (repo / "package.json").write_text(json.dumps({"name": "x", "dependencies": {"tinylib": tarball}}))
    (repo / ".gitignore").write_text("node_modules/\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "dependency")
    checkout = tmp_path / "run" / "checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))
    monkeypatch.setenv("npm_config_cache", str(user_npm))
    setup = "npm install --offline " + " ".join(quiet)
    req = RunRequest(repo=repo, task="t", setup=setup, network_setup=False, sandbox="bwrap")
    _, _, done = prepare_environment(req, repo, checkout, SandboxConfig(workdir=str(repo)))
    assert done is not None and [rel for _, rel in done.outputs] == ["node_modules"]
    installed = tmp_path / "run" / "setup-output" / "node_modules" / "tinylib" / "index.js"
    assert installed.read_text() == "module.exports = 'tiny';\n"
    assert _snapshot(user_npm / "_cacache") == before  # read, never written


def test_a_node_modules_link_out_of_the_repository_must_lead_to_a_node_modules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (tmp_path / "elsewhere" / "node_modules").mkdir(parents=True)
    repo = _node_repo(tmp_path / "repo")
    (repo / "node_modules").symlink_to(home / ".ssh")
    refused = find_lang_toolchain(repo, repo, environ={}, home=str(home))
    assert refused.inner_mounts == () and any("not a node_modules directory" in n for n in refused.notes)
    (repo / "node_modules").unlink()
    (repo / "node_modules").symlink_to(tmp_path / "elsewhere" / "node_modules")
    found = find_lang_toolchain(repo, repo, environ={}, home=str(home))
    assert found.inner_mounts == ((str(tmp_path / "elsewhere" / "node_modules"), "node_modules"),)


@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_the_users_node_modules_is_never_part_of_the_change(tmp_path: Path, mode: str) -> None:
    """Not even when the user's .gitignore does not ignore it, and not when the unconfined mode shows it as
    a link in the checkout."""
    repo = _node_repo(tmp_path / "repo")
    (repo / "node_modules" / "dep").mkdir(parents=True)
    (repo / "node_modules" / "dep" / "index.js").write_text("module.exports = 1;\n")
    checkout = tmp_path / "run" / "checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))
    req = RunRequest(repo=repo, task="t", sandbox=mode)
    config, _, _ = prepare_environment(req, repo, checkout, SandboxConfig(workdir=str(repo)))
    if mode == "none":
        UnconfinedSandbox(checkout, tmp_path / "scratch", config).close()
        assert (checkout / "node_modules" / "dep" / "index.js").is_file()  # through the link
    else:
        assert (checkout / "node_modules").is_dir()  # the mount's place, made before the model starts
    assert changed_paths(checkout, git(checkout, "rev-parse", "HEAD").strip()) == []


@needs_bwrap
def test_a_setup_that_scatters_files_everywhere_is_refused_and_a_file_output_is_shown_read_only(
    tmp_path: Path,
) -> None:
    repo = _node_repo(tmp_path / "run" / "checkout")
    store = tmp_path / "run" / "setup-output"
    with pytest.raises(SetupFailed, match="left 70 separate untracked paths"):
        _setup(repo, tmp_path, "for i in $(seq 70); do : > f$i; done", network=False)
    git(repo, "clean", "-qfdx")
    done = _setup(repo, tmp_path, "echo '{}' > config.json", network=False)
    assert done.outputs == ((str(store / "config.json"), "config.json"),)
    config = SandboxConfig(workdir=str(repo), inner_ro_mounts=done.outputs)
    shown = BwrapSandbox(repo, tmp_path / "scratch", config)
    try:
        seen = shown.run("cat config.json; echo x >> config.json; echo rc=$?")
    finally:
        shown.close()
    assert "{}" in seen.output and "rc=1" in seen.output
    assert (store / "config.json").read_text() == "{}\n"
