"""Where a run's settings come from, and which one wins: a flag, then the environment, then the repository's
config file, then the user's, then the built-in default.

- The repository's file: `.be-agent.toml` in its top directory, or the `[tool.be-agent]` table of its
  `pyproject.toml` (one or the other: settings in both are an error). What a team sets once per repository.
- The user's file: `$XDG_CONFIG_HOME/be-agent/config.toml` (default `~/.config/be-agent/config.toml`).
- The environment: `BE_AGENT_<KEY>`, e.g. `BE_AGENT_MAX_COST=2`; an empty value counts as unset.

Both files hold the same keys (`KEYS`, plus `[prices."MODEL"]` tables), in TOML. Rules a reader can check:

- An unknown key is an error that names it (and the key it resembles); so is a value of the wrong type,
  naming the key and the file. A file that is not TOML is an error naming the file, except a
  `pyproject.toml` that cannot be parsed, which is left to the project's own tools (and skipped here).
- A repository's file cannot weaken the sandbox on its own: `network = true` or `sandbox = "none"` coming
  from it stops the run (exit 2) unless the user confirms with `--accept-repo-sandbox`, or decides
  themselves (a flag, the environment, their own file). So does a `setup` command from it (or its
  `network-setup = true`): the setup step has network, and the repository chose the command; the user
  decides with `--network-setup on|off` (or accepts with `--accept-repo-sandbox`).
- A repository's file may tighten a limit, never raise it on its own: a value of `max-steps`, `max-cost`,
  `max-time`, `command-timeout`, `test-timeout`, `retry-budget` or `disk-limit` from it that is above the
  user's own (their file, else the built-in default; `max-cost` and `max-time` have none) stops the run
  (exit 2) unless the user confirms with `--accept-repo-sandbox` or sets the limit themselves. A hostile
  repository must not fill the disk, hang the run or spend more than the user allowed.
- `state-dir` (where be-agent writes on this machine) and `[prices]` (they decide when the user's
  `--max-cost` stops a run: a repository pricing a model at 0 would disable it) are the user's alone:
  refused in a repository's file.
- Endpoints and credentials are not settings at all: they come from each provider's usual environment
  (`agent.providers`), so no file can send the user's credentials elsewhere.
- Prices merge per model: a model's price set by a flag replaces that model's price in the user's file.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import UsageError
from agent.pricing import PriceOverride
from agent.providers import check_model_id, default_model, project_shape, provider_choice, region_shape
from agent.settings import RunSettings
from sandbox.base import sandbox_mode

REPO_FILE = ".be-agent.toml"
PYPROJECT = "pyproject.toml"
USER_FILE = Path("be-agent") / "config.toml"
ENV_PREFIX = "BE_AGENT_"
MAX_FILE_BYTES = 1024 * 1024  # a settings file larger than this is not a settings file
# limits a repository may lower but not raise on its own (module docstring)
LIMITS = (
    "max_steps",
    "max_cost",
    "max_time",
    "command_timeout",
    "test_timeout",
    "retry_budget",
    "disk_limit",
)

FLAG = "flag"
ENVIRONMENT = "environment"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# --- the keys -----------------------------------------------------------------------------------------------


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _whole(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"must be a whole number, not {value!r}") from None


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"must be a number, not {value!r}") from None


def _switch(value: str) -> bool:
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"must be true or false, not {value!r}")


def _sandbox(value: str) -> str:
    return sandbox_mode(value)


def _provider(value: str) -> str:
    return provider_choice(value)


def _size(value: str) -> int:
    from agent.disk import parse_size

    return parse_size(value)


def _path(value: str) -> Path:
    return Path(_text(value)).expanduser()


@dataclass(frozen=True)
class Key:
    """One setting: the TOML type it takes, how its environment variable's text is read, and who may set
    it."""

    kind: type  # what TOML must give: str, int, float (an int is accepted) or bool
    parse: Callable[[str], Any]  # from text (the environment; a string in a file is checked with it too)
    personal: bool = False  # the user's alone: refused in a repository's file
    text_too: bool = False  # a file may also give it as text, read with `parse` (a size: 2G or 2147483648)


KEYS: dict[str, Key] = {
    "provider": Key(str, _provider),
    "model": Key(str, _text),
    "max-steps": Key(int, _whole),
    "max-cost": Key(float, _number),
    "max-time": Key(float, _number),
    "command-timeout": Key(float, _number),
    "test-timeout": Key(float, _number),
    "retry-budget": Key(float, _number),
    "disk-limit": Key(int, _size, text_too=True),
    "sandbox": Key(str, _sandbox),
    "network": Key(bool, _switch),
    "test-cmd": Key(str, _text),
    "junit-report": Key(str, _text),
    "setup": Key(str, _text),
    "network-setup": Key(bool, _switch),
    "state-dir": Key(str, _path, personal=True),
    "aws-region": Key(str, region_shape),
    "vertex-project": Key(str, project_shape),
    "vertex-region": Key(str, region_shape),
}
PRICES = "prices"
PRICE_FIELDS = {
    "input": "input",
    "output": "output",
    "cache-write": "cache_write",
    "cache-read": "cache_read",
}


def field_of(key: str) -> str:
    return key.replace("-", "_")


def key_of(field: str) -> str:
    return field.replace("_", "-")


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def setting_name(field: str, origin: str | None) -> str:
    """A setting as the user wrote it where they set it: `--max-cost`, `BE_AGENT_MAX_COST`, or
    `max-cost in /repo/.be-agent.toml`. No origin (a built-in value) reads as the flag."""
    if origin == ENVIRONMENT:
        return env_name(field)
    if origin is None or origin == FLAG:
        return "--" + key_of(field)
    return f"{key_of(field)} in {origin}"


# --- layers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """The settings one place gives, by RunSettings field."""

    kind: str  # "flag", "environment", "repository" or "user"
    label: str  # what a message calls it: "flag", "environment", or the file
    values: dict[str, Any]
    prices: dict[str, PriceOverride]


def _closest(key: str) -> str:
    match = difflib.get_close_matches(key.replace("_", "-"), [*KEYS, PRICES], n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def _typed(key: str, spec: Key, value: Any, label: str) -> Any:
    if spec.text_too and isinstance(value, str):
        try:
            return spec.parse(value)
        except ValueError as exc:
            raise UsageError(f"{label}: {key} {exc}") from None
    ok = (
        isinstance(value, spec.kind) and not (spec.kind is int and isinstance(value, bool))
        if spec.kind is not float
        else isinstance(value, int | float) and not isinstance(value, bool)
    )
    if not ok:
        wanted = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}[spec.kind]
        wanted += " or a size such as 2G" if spec.text_too else ""
        raise UsageError(f"{label}: {key} must be {wanted}, not {value!r}")
    if spec.kind is float:
        return float(value)
    if spec.kind is str:
        try:
            return spec.parse(value)
        except ValueError as exc:
            raise UsageError(f"{label}: {key} {exc}") from None
    return value


def _price(model: str, table: Any, label: str, origin: str) -> PriceOverride:
    where = f'{label}: [prices."{model}"]'
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table (input = ..., output = ... in USD per million tokens)")
    unknown = sorted(set(table) - set(PRICE_FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown key {', '.join(unknown)} (the keys: {', '.join(PRICE_FIELDS)})")
    missing = [name for name in ("input", "output") if name not in table]
    if missing:
        raise UsageError(f"{where} needs {' and '.join(missing)} (USD per million tokens)")
    values: dict[str, float] = {}
    for name, value in table.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise UsageError(
                f"{where}: {name} must be a number of USD per million tokens, 0 or more, not {value!r}"
            )
        values[PRICE_FIELDS[name]] = float(value)
    return PriceOverride(**values, origin=origin)


def layer_from_table(table: Mapping[str, Any], *, kind: str, label: str) -> Layer:
    """A file's settings, checked: unknown keys, wrong types and keys this kind of file may not set are
    errors naming the file."""
    unknown = [key for key in table if key not in KEYS and key != PRICES]
    if unknown:
        named = ", ".join(f"{key}{_closest(key)}" for key in unknown)
        raise UsageError(f"{label}: unknown key{'s' if len(unknown) > 1 else ''} {named}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == PRICES:
            continue
        spec = KEYS[key]
        if spec.personal and kind == "repository":
            raise UsageError(
                f"{label}: {key} cannot be set by a repository (it says where be-agent writes on your "
                f"machine); set it in your own config, {env_name(field_of(key))} or --{key}"
            )
        values[field_of(key)] = _typed(key, spec, value, label)
    prices_table = table.get(PRICES, {})
    if prices_table and kind == "repository":
        raise UsageError(
            f"{label}: prices cannot be set by a repository (they decide when --max-cost stops a run); set "
            "them in your own config or with --price"
        )
    if not isinstance(prices_table, dict):
        raise UsageError(f'{label}: prices must be tables, e.g. [prices."MODEL"] input = 2.0, output = 10.0')
    prices = {model: _price(model, entry, label, label) for model, entry in prices_table.items()}
    return Layer(kind, label, values, prices)


def environment_layer(environ: Mapping[str, str]) -> Layer:
    values: dict[str, Any] = {}
    for key, spec in KEYS.items():
        name = env_name(field_of(key))
        text = environ.get(name, "")
        if not text.strip():
            continue
        try:
            values[field_of(key)] = spec.parse(text)
        except ValueError as exc:
            raise UsageError(f"{name} {exc}") from None
    return Layer("environment", ENVIRONMENT, values, {})


def _read_toml(path: Path, label: str, *, inside: Path | None = None) -> dict[str, Any] | None:
    """A settings file's table; None when there is no such file. Only a regular file of bounded size is
    read, and a repository's file only when it really lies inside the repository."""
    if not path.is_file():
        return None
    if inside is not None and not path.resolve().is_relative_to(inside.resolve()):
        raise UsageError(f"{label} is a link to a file outside the repository; be-agent does not follow it")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{label} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{label} is larger than {MAX_FILE_BYTES // 1024} KiB; it cannot be a settings file")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{label} cannot be read: {exc}") from None
    except RecursionError:  # tomllib recurses per nested array or table: a bomb, not settings
        raise UsageError(f"{label} cannot be read: it nests arrays or tables too deeply") from None


def repository_layer(root: Path) -> Layer | None:
    """The repository's settings: `.be-agent.toml`, or `[tool.be-agent]` in `pyproject.toml`."""
    own_label = str(root / REPO_FILE)
    own = _read_toml(root / REPO_FILE, own_label, inside=root)
    pyproject_label = f"[tool.be-agent] in {root / PYPROJECT}"
    section: Any = None
    try:
        pyproject = _read_toml(root / PYPROJECT, str(root / PYPROJECT), inside=root)
    except UsageError:
        pyproject = None  # the project's own file, broken for its own tools: not ours to refuse
    if pyproject is not None:
        tool = pyproject.get("tool")
        section = tool.get("be-agent") if isinstance(tool, dict) else None
    if section is not None and not isinstance(section, dict):
        raise UsageError(f"{pyproject_label} must be a table")
    if own and section:
        raise UsageError(
            f"be-agent settings are in both {own_label} and {pyproject_label}; keep them in one place"
        )
    if own is not None:
        return layer_from_table(own, kind="repository", label=own_label)
    if section:
        return layer_from_table(section, kind="repository", label=pyproject_label)
    return None


def user_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / USER_FILE


def user_layer(environ: Mapping[str, str]) -> Layer | None:
    path = user_config_path(environ)
    table = _read_toml(path, str(path))
    return None if table is None else layer_from_table(table, kind="user", label=str(path))


def repository_root(path: Path) -> Path | None:
    """The top directory of the git repository holding `path` (where `.git` is), without running git."""
    try:
        here = path.expanduser().resolve()
    except OSError:
        return None
    if not here.is_dir():  # a mistyped path is the run's to refuse, not a reason to read a parent's config
        return None
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


# --- resolving ----------------------------------------------------------------------------------------------


def parse_price_flag(text: str) -> tuple[str, PriceOverride]:
    """`MODEL=INPUT,OUTPUT[,CACHE_WRITE,CACHE_READ]`, in USD per million tokens."""
    model, sep, numbers = text.rpartition("=")
    parts = numbers.split(",")
    problem = (
        f"--price must be MODEL=INPUT,OUTPUT[,CACHE_WRITE,CACHE_READ] in USD per million tokens, not {text!r}"
    )
    if not sep or not model.strip() or len(parts) not in (2, 3, 4):
        raise UsageError(problem)
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise UsageError(problem) from None
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise UsageError(f"--price: prices must be 0 or more, not {numbers!r}")
    names = ("input", "output", "cache_write", "cache_read")
    return model.strip(), PriceOverride(**dict(zip(names, values, strict=False)), origin="--price")


def resolve_settings(
    flags: Mapping[str, Any],
    *,
    repo: Path | None,
    environ: Mapping[str, str] | None = None,
    price_flags: list[str] | None = None,
    accept_repo_sandbox: bool = False,
) -> RunSettings:
    """The settings for a run: each field from the first layer that sets it (flags, whose None means "not
    given"; the environment; the repository's file when `repo` is given; the user's file), else the
    built-in default. Raises UsageError for a broken file or value, and when the repository's file alone
    would weaken the sandbox."""
    env = os.environ if environ is None else environ
    flag_prices = dict(parse_price_flag(text) for text in price_flags or [])
    layers = [
        Layer("flag", FLAG, {k: v for k, v in flags.items() if v is not None}, flag_prices),
        environment_layer(env),
    ]
    root = repository_root(repo) if repo is not None else None
    if root is not None:
        layers.append(repository_layer(root) or Layer("repository", "", {}, {}))
    layers.append(user_layer(env) or Layer("user", "", {}, {}))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    kinds: dict[str, Layer] = {}
    for layer in layers:
        for field, value in layer.values.items():
            if field not in values:
                values[field], sources[field], kinds[field] = value, layer.label, layer
    prices: dict[str, PriceOverride] = {}
    for layer in reversed(layers):  # the lowest first, so each higher layer replaces a model's price
        prices.update(layer.prices)
    if prices:
        sources["prices"] = ", ".join(dict.fromkeys(p.origin for p in prices.values()))

    _check_sandbox(values, kinds, accept_repo_sandbox)
    _check_limits(values, kinds, layers[-1], accept_repo_sandbox)
    provider = values.get("provider", "anthropic")
    if "model" not in values:
        values["model"] = default_model(provider)
    check_model_id(provider, values["model"])
    return RunSettings(**values, prices=prices, sources=sources)


def _check_sandbox(values: dict[str, Any], kinds: dict[str, Layer], accepted: bool) -> None:
    weaker = []
    if values.get("network") is True and kinds["network"].kind == "repository":
        weaker.append(("network = true", "--network or --no-network", kinds["network"].label))
    if values.get("sandbox") == "none" and kinds["sandbox"].kind == "repository":
        weaker.append(('sandbox = "none"', "--sandbox none or --sandbox auto", kinds["sandbox"].label))
    # the setup step has network unless the user turns it off: a repository's setup command, or its own
    # `network-setup = true`, is the repository asking for network (agent/setup_step.py)
    if values.get("setup") is not None and values.get("network_setup", True):
        decided = "network_setup" in kinds and kinds["network_setup"].kind != "repository"
        if not decided and kinds["setup"].kind == "repository":
            weaker.append(
                (
                    f"setup = {values['setup'][:80]!r} (run with network)",
                    "--network-setup on or --network-setup off",
                    kinds["setup"].label,
                )
            )
    if weaker and not accepted:
        asks = " and ".join(what for what, _, _ in weaker)
        yours = "; ".join(flags for _, flags, _ in weaker)
        verb = "weakens" if len(weaker) == 1 else "weaken"
        raise UsageError(
            f"{weaker[0][2]} asks for {asks}, which {verb} the sandbox, and a repository's config cannot do "
            f"that on its own: pass --accept-repo-sandbox to accept it, or decide yourself ({yours})"
        )


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_limits(values: dict[str, Any], kinds: dict[str, Layer], user: Layer, accepted: bool) -> None:
    """A repository's limit above the user's own (their file's, else the built-in default) needs their word."""
    if accepted:
        return
    defaults = RunSettings()
    raised = []
    for field in LIMITS:
        if field not in values or kinds[field].kind != "repository":
            continue
        own = user.values.get(field, getattr(defaults, field))
        if own is not None and isinstance(values[field], int | float) and values[field] > own:
            where = f"your {user.label}" if field in user.values else "the built-in default"
            raised.append(
                (
                    field,
                    f"{key_of(field)} = {_number_text(values[field])} (above {_number_text(own)}, {where})",
                )
            )
    if raised:
        label = kinds[raised[0][0]].label
        flags = ", ".join("--" + key_of(field) for field, _ in raised)
        raise UsageError(
            f"{label} raises {'; '.join(what for _, what in raised)}, and a repository's config may only "
            f"lower limits on its own: pass --accept-repo-sandbox to accept it, or set it yourself ({flags})"
        )
