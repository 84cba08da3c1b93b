"""Python projects as users have them: a git repository, a virtualenv inside it, the project installed there
in one of the ways pip does it. Built offline, in milliseconds.

The virtualenv is a real one (`python -m venv --without-pip`, from the interpreter running the suite); pytest
and its dependencies are copied into it file by file from this suite's own environment, as pip would unpack
their wheels. The project is installed the way pip leaves it: editable as setuptools does it for a src
layout (a `.pth` file naming the repository's `src` and a `.dist-info` marked editable), or as a copy of the
package in site-packages. Entry points (a pytest plugin) go in the `.dist-info` like pip puts them.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.sandbox_fixtures import git


def site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def make_venv(venv: Path, *, with_pytest: bool = True) -> Path:
    """A virtualenv at `venv` (no pip), with pytest in it unless told otherwise."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
    if with_pytest:
        copy_distributions(["pytest"], site_packages(venv))
    return venv


def copy_distributions(names: list[str], site: Path) -> None:
    """Install `names` and what they require into `site` by copying their files from this environment."""
    todo, done = list(names), set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in done:
            continue
        done.add(name)
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # scripts outside site-packages; bytecode is rebuilt where needed
            source = Path(str(dist.locate_file(file)))
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        for requirement in map(Requirement, dist.requires or []):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)


def _dist_info(site: Path, name: str, version: str, *, url: str, editable: bool, entry_points: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    direct = {"url": url, "dir_info": {"editable": True}} if editable else {"url": url, "dir_info": {}}
    (info / "direct_url.json").write_text(json.dumps(direct))
    if entry_points:
        (info / "entry_points.txt").write_text(entry_points)
    (info / "RECORD").write_text("")


def install_editable(venv: Path, project: Path, name: str, *, entry_points: str = "") -> None:
    """What `pip install -e .` leaves for a setuptools src layout: a .pth naming `<project>/src`."""
    site = site_packages(venv)
    (site / f"__editable__.{name}-0.1.0.pth").write_text(str(project / "src") + "\n")
    _dist_info(site, name, "0.1.0", url=project.as_uri(), editable=True, entry_points=entry_points)


def install_copy(venv: Path, project: Path, name: str, *, entry_points: str = "") -> None:
    """What `pip install .` leaves: the package copied into site-packages, as it is now."""
    site = site_packages(venv)
    shutil.copytree(project / "src" / name, site / name)
    _dist_info(site, name, "0.1.0", url=project.as_uri(), editable=False, entry_points=entry_points)


def make_src_project(repo: Path, files: dict[str, str]) -> Path:
    """A committed git repository with these files and a .gitignore that leaves out the virtualenv."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for rel, text in {".gitignore": ".venv/\n__pycache__/\n*.egg-info/\n", **files}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo
