"""The real deploy: pyinfra runs deploy/raspberrypi/deploy.py against a Debian bookworm root made with
debootstrap (pyinfra's @chroot connector), then the installed node is started inside that root.

Needs root, debootstrap and network access to deb.debian.org and PyPI the first time; the root and the
dependency wheels are cached under /var/cache/fristed-test-debootstrap, so later runs are quicker.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.deploy import chroot
from tests.deploy.helpers import DEPLOY, EXPOSURE_LIMIT, REPO, UNIT, exposure, fd, free_port

pytestmark = pytest.mark.slow

NODE_NAME = "fristed-test"
LAN = "192.168.50.0/24"
NODE_ADDRESS = "192.0.2.10"
DATA_DISK = "/srv/fristed-disk"
PUBLIC_NAME = "fristed-test.example.dk"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the real deploy test needs root (debootstrap, chroot, mount)"
    missing = chroot.missing_tools()
    if missing:
        return f"missing tools for the real deploy test: {', '.join(missing)} (apt-get install debootstrap)"
    if shutil.which("pyinfra", path=str(Path(sys.executable).parent)) is None:
        return "pyinfra is not installed in this environment (pip install pyinfra==3.10.0)"
    return None


@dataclass
class Deployed:
    root: Path
    wheel: Path
    runs: list[subprocess.CompletedProcess[str]]
    seconds: list[float]


def _clean_env() -> dict[str, str]:
    """The controller's environment minus what would leak into the box (pip settings, SSH session)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "SSH_", "VIRTUAL_ENV"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = out.glob("fristed-*.whl")
    return wheel


def wheelhouse_for(wheel: Path) -> Path:
    """Dependency wheels for the wheel's requirements, cached by their exact list."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        requires = sorted(line for line in zf.read(meta).decode().splitlines() if line.startswith("Requires-Dist:")
                          and "extra ==" not in line)
    key = hashlib.sha256("\n".join(requires).encode()).hexdigest()[:16]
    house = chroot.CACHE_DIR / f"wheelhouse-{sys.implementation.cache_tag}-{key}"
    if not (house / ".complete").exists():
        house.mkdir(parents=True, exist_ok=True)
        # The chroot's Python (Debian's 3.11) takes the same wheels as this one (3.11, x86_64, glibc).
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(house),
                        str(wheel)], check=True, capture_output=True, text=True, timeout=900)
        for own in house.glob("fristed-*.whl"):
            own.unlink()
        (house / ".complete").touch()
    return house


def certificate_files(directory: Path) -> tuple[Path, Path]:
    """A certificate and key "from municipal IT" for tls = "files"."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUBLIC_NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(PUBLIC_NAME)]), critical=False)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def run_deploy(root: Path, wheel: Path, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    cert, key = certificate_files(root.parent / "municipal-tls")
    data = {
        "fristed_wheel": str(wheel),
        "fristed_wheelhouse": str(wheelhouse),
        "in_chroot": "true",
        "apt_update": "false",
        "_sudo": "false",
        "node_name": NODE_NAME,
        "ssh_allow": json.dumps([LAN]),
        "data_disk": DATA_DISK,
        "turn": "true",
        "turn_node_addresses": json.dumps([NODE_ADDRESS]),
        "public_name": PUBLIC_NAME,
        "tls": "files",
        "tls_cert_file": str(cert),
        "tls_key_file": str(key),
    }
    args = [str(Path(sys.executable).parent / "pyinfra"), "-y"]
    for key, value in data.items():
        args += ["--data", f"{key}={value}"]
    # Run from a scratch directory (pyinfra writes pyinfra-debug.log to its working directory on errors),
    # with the deploy's own group_data as IT would have it.
    args += ["--group-data", str(DEPLOY / "group_data"), f"@chroot/{root}", str(DEPLOY / "deploy.py")]
    return subprocess.run(args, cwd=root.parent, env=_clean_env(), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tarball = chroot.ensure_tarball()
    work = Path(tempfile.mkdtemp(prefix="fristed-deploy-", dir="/var/tmp"))
    root = work / "root"
    try:
        chroot.unpack(tarball, root)
        wheel = build_wheel(work / "dist")
        house = wheelhouse_for(wheel)
        runs, seconds = [], []
        for _ in range(2):  # the second run shows the deploy converges and can be repeated
            began = time.monotonic()
            runs.append(run_deploy(root, wheel, house))
            seconds.append(time.monotonic() - began)
            assert runs[-1].returncode == 0, f"deploy failed:\n{runs[-1].stdout[-6000:]}\n{runs[-1].stderr[-6000:]}"
        print(f"\ndeploy into the chroot: first run {seconds[0]:.0f} s, second run {seconds[1]:.0f} s")
        yield Deployed(root, wheel, runs, seconds)
    finally:
        chroot.remove(work)


def _user(root: Path, name: str) -> tuple[int, int, str, str]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3]), fields[5], fields[6]
    raise AssertionError(f"no user {name} in the chroot")


def _owner_mode(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid, info.st_mode & 0o7777


def test_unit_is_installed_as_shipped(deployed: Deployed) -> None:
    unit_dir = deployed.root / "etc/systemd/system"
    assert (unit_dir / "fristed.service").read_text() == UNIT.read_text()
    site = (unit_dir / "fristed.service.d/10-site.conf").read_text()
    assert f"--name {NODE_NAME}" in site and "--no-zeroconf" in site
    assert "LoadCredential=fristed-turn-secret:/etc/fristed/turn-secret" in site
    assert "RequiresMountsFor=/var/lib/fristed" in site
    assert "--cert /etc/fristed/tls/fullchain.pem --key /etc/fristed/tls/privkey.pem" in site
    assert f"--origin https://{PUBLIC_NAME}" in site
    avahi = (unit_dir / "fristed-avahi.service").read_text()
    assert "--port 443" in avahi and "--cert /etc/fristed/tls/fullchain.pem" in avahi
    assert not (unit_dir / "fristed.service.d/20-key-custody.conf").exists()  # key file custody
    mount = (unit_dir / "var-lib-fristed.mount").read_text()
    assert f"What={DATA_DISK}/fristed" in mount and "Where=/var/lib/fristed" in mount
    wants = {
        "multi-user.target.wants/fristed.service",
        "timers.target.wants/fristed-backup.timer",
        "fristed.service.wants/fristed-avahi.service",
        "local-fs.target.wants/var-lib-fristed.mount",
        "multi-user.target.wants/coturn.service",
        "sysinit.target.wants/nftables.service",
    }
    for link in wants:
        assert (unit_dir / link).is_symlink(), f"{link} is not enabled"
    out = subprocess.run(["systemd-analyze", "verify", f"--root={deployed.root}", "fristed.service",
                          "fristed-backup.service", "fristed-backup.timer", "fristed-avahi.service",
                          "var-lib-fristed.mount"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    figure = exposure("fristed.service", deployed.root)
    print(f"\ninstalled fristed.service with its drop-ins: exposure {figure}")
    assert figure < EXPOSURE_LIMIT


def test_service_user_and_permissions(deployed: Deployed) -> None:
    root = deployed.root
    uid, gid, home, shell = _user(root, "fristed")
    assert uid < 1000 and home == "/var/lib/fristed" and shell == "/usr/sbin/nologin"
    for path in ("var/lib/fristed", DATA_DISK.lstrip("/") + "/fristed", "var/backups/fristed"):
        assert _owner_mode(root / path) == (uid, gid, 0o700), path
    for name in ("fullchain.pem", "privkey.pem"):  # the node's group reads them, nobody else
        assert _owner_mode(root / "etc/fristed/tls" / name) == (0, gid, 0o640), name
    assert _owner_mode(root / "etc/fristed/tls") == (0, gid, 0o750)
    secret = root / "etc/fristed/turn-secret"
    assert _owner_mode(secret) == (0, 0, 0o600)
    assert re.fullmatch(r"[0-9a-f]{64}", secret.read_text())
    for script in ("usr/local/bin/fristed", "usr/local/sbin/fristed-doctor", "opt/fristed/bin/fristed-backup",
                   "opt/fristed/bin/fristed-release"):
        assert _owner_mode(root / script)[2] == 0o755, script


def test_one_release_venv_and_idempotent_rerun(deployed: Deployed) -> None:
    root = deployed.root
    releases = sorted(p.name for p in (root / "opt/fristed/releases").iterdir())
    assert len(releases) == 1 and releases[0].startswith("0.1.0-")
    assert os.readlink(root / "opt/fristed/venv") == f"releases/{releases[0]}"
    assert (root / "opt/fristed/releases" / releases[0] / ".complete").exists()
    listing = subprocess.run(["chroot", str(root), "fristed-release", "list"], capture_output=True, text=True)
    assert f"* {releases[0]}" in listing.stdout
    # The second run changes no file: every put/directory operation reports "No Change".
    results = _results_table(deployed.runs[1].stdout + deployed.runs[1].stderr)
    file_ops = {name: row for name, row in results.items()
                if name.startswith(("Write ", "Install /", "Upload ", "Directory ", "The hardened", "Data directory",
                                    "Service "))}
    assert len(file_ops) > 20
    changed = [name for name, (_hosts, success, error, no_change) in file_ops.items() if no_change != "1"]
    assert not changed, f"a repeated deploy changed: {changed}"
    assert all(error == "-" for (_h, _s, error, _n) in results.values())


def _results_table(output: str) -> dict[str, tuple[str, str, str, str]]:
    """pyinfra's closing table: operation name -> (hosts, success, error, no change)."""
    rows: dict[str, tuple[str, str, str, str]] = {}
    lines = output.split("--> Results:", 1)[1].splitlines()[2:]
    for line in lines:
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) != 5 or parts[0] == "Grand total":
            continue
        rows[parts[0]] = (parts[1], parts[2], parts[3], parts[4])
    return rows


def test_firewall_rules_file(deployed: Deployed) -> None:
    text = (deployed.root / "etc/nftables.conf").read_text()
    assert text.startswith("#!/usr/sbin/nft -f") and "policy drop;" in text
    assert f"ip saddr {{ {LAN} }} tcp dport 22 accept" in text
    assert "tcp dport { 443, 8443 } accept" in text and "tcp dport 443 redirect to :8443" in text
    assert "udp dport 40000-40999 accept" in text
    assert "th dport 3478 accept" in text and "udp dport 49160-49400 accept" in text
    assert "tcp dport 80 " not in text  # no certbot here
    nft = shutil.which("nft")
    if nft:
        out = subprocess.run([nft, "-c", "-f", str(deployed.root / "etc/nftables.conf")], capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr


def test_coturn_and_os_settings(deployed: Deployed) -> None:
    root = deployed.root
    conf = (root / "etc/turnserver.conf").read_text()
    secret = (root / "etc/fristed/turn-secret").read_text()
    assert f"static-auth-secret={secret}\n" in conf and fd.SECRET_PLACEHOLDER not in conf
    assert "use-auth-secret" in conf and "no-cli" in conf and f"allowed-peer-ip={NODE_ADDRESS}" in conf
    assert "denied-peer-ip=10.0.0.0-10.255.255.255" in conf and "denied-peer-ip=192.168.0.0-192.168.255.255" in conf
    assert f"realm={PUBLIC_NAME}" in conf
    turn_gid = next(int(line.split(":")[2]) for line in (root / "etc/group").read_text().splitlines()
                    if line.startswith("turnserver:"))
    assert _owner_mode(root / "etc/turnserver.conf") == (0, turn_gid, 0o640)
    journald = (root / "etc/systemd/journald.conf.d/10-fristed.conf").read_text()
    assert "Storage=volatile" in journald and "MaxRetentionSec=7day" in journald
    upgrades = (root / "etc/apt/apt.conf.d/52fristed-unattended-upgrades").read_text()
    assert 'Automatic-Reboot "true"' in upgrades and 'Automatic-Reboot-Time "03:30"' in upgrades
    assert 'Unattended-Upgrade "1"' in (root / "etc/apt/apt.conf.d/20auto-upgrades").read_text()
    assert "RuntimeWatchdogSec=14s" in (root / "etc/systemd/system.conf.d/10-fristed-watchdog.conf").read_text()


def test_installed_node_answers_healthz(deployed: Deployed) -> None:
    """Start the installed fristed inside the root as the service user, as the unit would, and ask it."""
    root = deployed.root
    uid, gid, _home, _shell = _user(root, "fristed")
    port = free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/var/lib/fristed", "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    chroot_bin = shutil.which("chroot") or "/usr/sbin/chroot"  # found on the host's PATH, run with the box's
    as_fristed = [chroot_bin, f"--userspec={uid}:{gid}", f"--groups={gid}", str(root)]
    with chroot.mounted(root):
        proc = subprocess.Popen([*as_fristed, "/opt/fristed/venv/bin/fristed", "--data-dir", "/var/lib/fristed",
                                 "serve", "--host", "127.0.0.1", "--port", str(port), "--no-zeroconf", "--name",
                                 NODE_NAME], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            ca = root / "var/lib/fristed/tls/ca.crt"
            body = None
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and body is None:
                if proc.poll() is not None:
                    pytest.fail(f"the installed node exited: {proc.stdout.read() if proc.stdout else ''}")
                try:
                    ctx = ssl.create_default_context(cafile=str(ca))
                    with urllib.request.urlopen(f"https://localhost:{port}/healthz", context=ctx, timeout=2) as resp:
                        body = json.loads(resp.read())
                except (OSError, ssl.SSLError, ValueError):
                    time.sleep(0.3)
            assert body is not None, "the installed node never answered /healthz"
            assert body["status"] == "ok" and body["store"] is True and body["version"] == "0.1.0"

            # The nightly backup script, as the timer runs it, then the doctor as IT would.
            backup_env = {**env, "FRISTED_BACKUP_DIR": "/var/backups/fristed", "FRISTED_BACKUP_KEEP": "3"}
            backup = subprocess.run([*as_fristed, "/opt/fristed/bin/fristed-backup"], capture_output=True, text=True,
                                    env=backup_env)
            assert backup.returncode == 0, backup.stdout + backup.stderr
            assert len(list((root / "var/backups/fristed").glob("fristed-*.fbk"))) == 1
            doctor = subprocess.run([*as_fristed, "/opt/fristed/venv/bin/python", "-m", "node.doctor",
                                     "--data-dir", "/var/lib/fristed", "--url", f"https://localhost:{port}/",
                                     "--backup-dir", "/var/backups/fristed"], capture_output=True, text=True, env=env)
            print("\n" + doctor.stdout)
            assert doctor.returncode == 0, doctor.stdout + doctor.stderr
            for check in ("health", "store", "certificate", "backups"):
                assert re.search(rf"^  ok\s+{check}\s", doctor.stdout, re.M), check

            # The Avahi record, rendered from the node's real certificate by the installed script.
            avahi = subprocess.run([chroot_bin, str(root), "/opt/fristed/venv/bin/python",
                                    "/opt/fristed/bin/fristed-avahi-render", "--name", NODE_NAME, "--port", "8443"],
                                   capture_output=True, text=True, env=env)
            assert avahi.returncode == 0, avahi.stderr
            record = (root / "etc/avahi/services/fristed.service").read_text()
            assert "<type>_fristed._tcp</type>" in record and f"<txt-record>name={NODE_NAME}</txt-record>" in record
            assert re.search(r"<txt-record>fp=([0-9A-F]{2}:){31}[0-9A-F]{2}</txt-record>", record)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert not chroot.mounts_under(root)
