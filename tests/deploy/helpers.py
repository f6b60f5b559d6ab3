"""Shared helpers for the deploy tests: paths, the deploy's settings module, small process utilities."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "raspberrypi"
UNIT = DEPLOY / "fristed.service"
EXPOSURE_LIMIT = 2.5

if str(DEPLOY) not in sys.path:
    sys.path.insert(0, str(DEPLOY))

import fristed_deploy as fd  # noqa: E402,F401  (re-exported for the tests)


def load_script(name: str) -> ModuleType:
    """Import one of deploy/raspberrypi/files/* (Python scripts without a .py suffix)."""
    path = DEPLOY / "files" / name
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def exposure(unit: str, root: Path | None = None) -> float:
    """The "Overall exposure level" systemd-analyze gives a unit (offline)."""
    cmd = ["systemd-analyze", "security", "--offline=true", "--no-pager"]
    if root is not None:
        cmd += [f"--root={root}"]
    out = subprocess.run([*cmd, unit], capture_output=True, text=True, check=False)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout)
    assert match, f"no exposure figure in:\n{out.stdout}\n{out.stderr}"
    return float(match.group(1))


def verify_root(root: Path, executables: list[str]) -> Path:
    """A minimal root for `systemd-analyze verify --root`: the system's units plus stand-in binaries."""
    units = Path("/usr/lib/systemd/system")
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    for exe in executables:
        path = root / exe.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n", encoding="utf-8")
        path.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    return root


def exec_paths(unit_text: str) -> list[str]:
    """Absolute programs named by Exec*= lines."""
    found = []
    for line in unit_text.splitlines():
        match = re.match(r"^Exec\w+=[-+!@:]*(/\S+)", line)
        if match:
            found.append(match.group(1))
    return found
