"""A Debian bookworm root made with debootstrap, cached as a tarball, for the real deploy test.

The first build takes a few minutes (it downloads from deb.debian.org); later runs unpack the
cached tarball into a fresh directory in seconds, so every test run deploys onto a clean root.
Run this module directly to build (or rebuild) the cache ahead of time::

    .venv/bin/python -m tests.deploy.chroot
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

SUITE = "bookworm"
MIRROR = os.environ.get("FRISTED_TEST_MIRROR", "http://deb.debian.org/debian")
CACHE_DIR = Path(os.environ.get("FRISTED_TEST_CACHE", "/var/cache/fristed-test-debootstrap"))

# debootstrap --include: what any Debian 12 box has, plus what the node needs to run.
BASE_PACKAGES = ["python3", "python3-venv", "systemd", "nftables", "ca-certificates", "iproute2"]
# Installed in a second step with daemons kept from starting (policy-rc.d), because a service that
# starts inside a chroot runs on the host's network. These are what deploy.py installs; having them
# in the cache keeps warm runs off the network.
EXTRA_PACKAGES = ["unattended-upgrades", "apt-listchanges", "avahi-daemon", "coturn"]

POLICY_RC_D = "#!/bin/sh\n# fristed test root: never start daemons inside the chroot\nexit 101\n"


class ChrootError(RuntimeError):
    pass


def cache_key() -> str:
    text = "\n".join([SUITE, MIRROR, "minbase", *BASE_PACKAGES, "--", *EXTRA_PACKAGES, "v3"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tarball_path() -> Path:
    return CACHE_DIR / f"{SUITE}-minbase-{cache_key()}.tar"


def missing_tools() -> list[str]:
    return [tool for tool in ("debootstrap", "chroot", "mount", "umount", "tar") if shutil.which(tool) is None]


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise ChrootError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                          f"{result.stderr[-4000:]}")
    return result


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (from /proc/self/mountinfo)."""
    prefix = str(root.resolve())
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


@contextlib.contextmanager
def mounted(root: Path, *, dev: bool = True) -> Iterator[None]:
    """/proc (and a bind of /dev) inside ``root`` for the duration; always unmounted again."""
    done: list[Path] = []
    try:
        target = root / "proc"
        target.mkdir(exist_ok=True)
        _run(["mount", "-t", "proc", "proc", str(target)])
        done.append(target)
        if dev:
            target = root / "dev"
            target.mkdir(exist_ok=True)
            _run(["mount", "--bind", "/dev", str(target)])
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            result = subprocess.run(["umount", str(target)], capture_output=True, text=True)
            if result.returncode != 0:
                subprocess.run(["umount", "-l", str(target)], capture_output=True, text=True)


def _build(tarball: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE_DIR))
    root = work / "root"
    try:
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(root),
              MIRROR], timeout=1200)
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text(POLICY_RC_D, encoding="utf-8")
        policy.chmod(0o755)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
        with mounted(root):
            _run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends",
                  *EXTRA_PACKAGES], env=env, timeout=1200)
            _run(["chroot", str(root), "apt-get", "clean"], env=env)
        if mounts_under(root):
            raise ChrootError(f"still mounted under {root}: {mounts_under(root)}")
        partial = tarball.with_name(tarball.name + ".partial")
        _run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(partial), "."], timeout=600)
        os.replace(partial, tarball)
    finally:
        if not mounts_under(work):
            shutil.rmtree(work, ignore_errors=True)


def ensure_tarball() -> Path:
    """Build the cached root once (under a lock, so parallel runs wait for each other)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = tarball_path()
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if not tarball.exists():
            _build(tarball)
    return tarball


def unpack(tarball: Path, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-xf", str(tarball)], timeout=600)
    # The chroot resolves names (for pip and apt) with the host's resolver settings.
    target = root / "etc/resolv.conf"
    if target.is_symlink():  # never follow a link out of the root
        target.unlink()
    shutil.copyfile("/etc/resolv.conf", target)


def remove(root: Path) -> None:
    """Delete a test root, but never while anything is still mounted inside it."""
    left = mounts_under(root)
    if left:
        raise ChrootError(f"refusing to delete {root}: still mounted: {left}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    missing = missing_tools()
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)}")
    print(ensure_tarball())
