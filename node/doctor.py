"""`fristed doctor`: check a node from its own box and say in plain words what is wrong.

Each check returns a :class:`Finding` (ok, warn or fail) with a sentence an IT person can act on:
the service, its health endpoint, disk space, certificate expiry, the clock, the store's
integrity, the age of the newest backup and whether the TURN relay answers. The exit status is 1
when any check fails. On a deployed box run ``sudo fristed-doctor``, which passes the box's own
settings; elsewhere ``fristed doctor`` (or ``python -m node.doctor``) with the options below.
"""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from cryptography import x509

from crypto.ca import certificate_days_left, fingerprint
from crypto.storekey import KeyFileError, PassphraseSource, read_key_file
from node.datadir import DataDir, default_data_dir
from node.passphrase import CREDENTIAL, ENV
from node.store import StoreError, check_integrity, connect, schema_version

OK, WARN, FAIL = "ok", "warn", "fail"

GIB = 1024 ** 3
MIB = 1024 ** 2
DISK_WARN_BYTES, DISK_FAIL_BYTES = 2 * GIB, 256 * MIB
DISK_WARN_SHARE, DISK_FAIL_SHARE = 0.10, 0.02
CERT_WARN_DAYS, CERT_FAIL_DAYS = 30.0, 7.0
BACKUP_WARN_HOURS, BACKUP_FAIL_HOURS = 36.0, 72.0
STUN_MAGIC = 0x2112A442
STUN_TIMEOUTS = (0.5, 1.0, 1.5)


class NoPassphrase(KeyFileError):
    """The key is passphrase-protected and no passphrase is at hand."""


@dataclass(frozen=True)
class Finding:
    """One check's verdict and a sentence saying what it means."""

    check: str
    status: str  # ok | warn | fail
    message: str


# --- service ----------------------------------------------------------------------------------

def check_service(unit: str = "fristed.service", *, systemctl: str | None = None,
                  systemd_dir: Path = Path("/run/systemd/system")) -> Finding:
    """Whether systemd runs the node."""
    systemctl = systemctl or shutil.which("systemctl")
    if systemctl is None or not systemd_dir.is_dir():
        return Finding("service", WARN, "not under systemd here, so the service state was not checked.")

    def ask(*args: str) -> str:
        out = subprocess.run([systemctl, *args, unit], capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip()

    if ask("show", "-p", "LoadState", "--value") == "not-found":
        return Finding("service", WARN, f"{unit} is not installed on this machine.")
    state = ask("is-active")
    if state == "active":
        return Finding("service", OK, f"{unit} is running.")
    if state in ("activating", "reloading"):
        return Finding("service", WARN, f"{unit} is starting. If it stays like this it may be waiting for the "
                                        "store passphrase: sudo systemd-tty-ask-password-agent")
    if state == "failed":
        return Finding("service", FAIL, f"{unit} has failed. See why with: journalctl -u {unit} -n 50")
    return Finding("service", FAIL, f"{unit} is not running ({state or 'unknown'}). "
                                    f"Start it with: sudo systemctl start {unit}")


def _tls_context(data_dir: Path, cert: Path | None) -> ssl.SSLContext:
    ca = data_dir / "tls" / "ca.crt"
    if cert is None and ca.exists():
        return ssl.create_default_context(cafile=str(ca))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False  # a public certificate does not name localhost; the chain is still checked
    return ctx


def check_health(url: str, data_dir: Path, cert: Path | None = None, timeout: float = 5.0) -> Finding:
    """GET /healthz on the running node."""
    target = url.rstrip("/") + "/healthz"
    context = _tls_context(data_dir, cert) if target.startswith("https:") else None
    try:
        with urllib.request.urlopen(target, timeout=timeout, context=context) as resp:  # noqa: S310
            body = json.loads(resp.read(65536))
    except urllib.error.HTTPError as exc:
        if exc.code == 503:
            return Finding("health", FAIL, f"the node answers at {url} but says its store is not healthy.")
        return Finding("health", FAIL, f"the node at {url} answered /healthz with HTTP {exc.code}.")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Finding("health", FAIL, f"the node does not answer at {url} ({reason}).")
    uptime = float(body.get("uptime_s", 0))
    return Finding("health", OK, f"the node answers at {url}: fristed {body.get('version', '?')}, "
                                 f"up {_duration(uptime)}.")


# --- disk and certificates ----------------------------------------------------------------------

def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(path: Path) -> Finding:
    """Free space on the disk that holds the data directory."""
    usage = shutil.disk_usage(_existing(path))
    share = usage.free / usage.total if usage.total else 0.0
    text = f"{_size(usage.free)} free of {_size(usage.total)} ({share:.0%}) on the disk that holds {path}."
    if usage.free < DISK_FAIL_BYTES or share < DISK_FAIL_SHARE:
        return Finding("disk", FAIL, f"almost full: {text} The store and backups need room; free some space.")
    if usage.free < DISK_WARN_BYTES or share < DISK_WARN_SHARE:
        return Finding("disk", WARN, f"getting full: {text}")
    return Finding("disk", OK, text)


def check_certificate(data_dir: Path, cert: Path | None = None) -> Finding:
    """Days left on the certificate the node serves."""
    path = cert or data_dir / "tls" / "server.crt"
    if not path.exists():
        return Finding("certificate", WARN, f"no certificate at {path} yet; the node makes one when it first starts.")
    try:
        days = certificate_days_left(path)
    except (ValueError, IndexError) as exc:
        return Finding("certificate", FAIL, f"{path} is not a readable certificate ({exc}).")
    pin = ""
    ca = data_dir / "tls" / "ca.crt"
    if cert is None and ca.exists():
        ca_fp = fingerprint(x509.load_pem_x509_certificate(ca.read_bytes()))
        pin = f" Devices trust the node's own CA, fingerprint {ca_fp}."
    renew = ("certbot renews it; check: sudo certbot renew --dry-run" if cert is not None
             else "the node renews it when it restarts: sudo systemctl restart fristed")
    if days <= 0:
        return Finding("certificate", FAIL, f"the certificate expired {_days(-days)} ago; browsers refuse the node. "
                                            f"{renew[0].upper()}{renew[1:]}.")
    if days < CERT_FAIL_DAYS:
        return Finding("certificate", FAIL, f"the certificate expires in {_days(days)}; {renew}.")
    if days < CERT_WARN_DAYS:
        return Finding("certificate", WARN, f"the certificate expires in {_days(days)}; {renew}.")
    return Finding("certificate", OK, f"the certificate is valid for {_days(days)} more.{pin}")


# --- clock ------------------------------------------------------------------------------------

def check_clock(data_dir: Path, now: float, *, timedatectl: str | None = None) -> Finding:
    """NTP synchronisation, and a clock that is not behind the node's own certificates."""
    ca = data_dir / "tls" / "ca.crt"
    if ca.exists():
        made = x509.load_pem_x509_certificate(ca.read_bytes()).not_valid_before_utc.timestamp()
        if now < made:
            when = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            return Finding("clock", FAIL, f"the clock says {when}, before this node's certificate was made; logins "
                                          "and certificates fail until the time is right. Check the network's NTP.")
    tool = timedatectl or shutil.which("timedatectl")
    if tool is None:
        return Finding("clock", WARN, "cannot tell whether the clock is synchronised (no timedatectl here).")
    try:
        out = subprocess.run([tool, "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True,
                             timeout=10, check=False)
    except OSError as exc:
        return Finding("clock", WARN, f"cannot tell whether the clock is synchronised ({exc}).")
    answer = out.stdout.strip()
    if out.returncode != 0 or answer not in ("yes", "no"):
        return Finding("clock", WARN, "cannot tell whether the clock is synchronised (timedatectl did not say).")
    if answer == "no":
        return Finding("clock", WARN, "the clock is not synchronised with a time server. Staff logins (one-time "
                                      "codes) and certificates need the right time; check: timedatectl status")
    return Finding("clock", OK, "the clock is synchronised with a time server.")


# --- store ------------------------------------------------------------------------------------

def passphrase_source(passphrase_file: Path | None = None) -> PassphraseSource:
    """The store passphrase, without ever waiting on systemd-ask-password (doctor may run unattended)."""

    def source() -> str:
        if os.environ.get(ENV):
            return os.environ[ENV]
        candidates = [passphrase_file] if passphrase_file else []
        if os.environ.get("CREDENTIALS_DIRECTORY"):
            candidates.append(Path(os.environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL)
        for path in candidates:
            if path is not None and path.exists():
                text = path.read_text(encoding="utf-8").rstrip("\r\n")
                if text:
                    return text
        if sys.stdin.isatty():
            return getpass.getpass("Passphrase for the store key (for the integrity check): ")
        raise NoPassphrase("no passphrase available")

    return source


def check_store(data_dir: Path, passphrase: PassphraseSource | None = None) -> Finding:
    """Open the store with its key and run SQLite's and SQLCipher's integrity checks."""
    data = DataDir(data_dir)
    if not data.key_file.exists():
        return Finding("store", FAIL, f"no node in {data_dir}: there is no store.key. Start the node once, or "
                                      "restore a backup into this directory.")
    owner = data_dir.stat().st_uid
    if os.geteuid() == 0 and owner != 0:
        return Finding("store", WARN, "not checked: run the doctor as the node's user, not as root "
                                      "(on a deployed box: sudo fristed-doctor).")
    try:
        key = read_key_file(data.key_file, passphrase)
    except KeyFileError as exc:
        if isinstance(exc, NoPassphrase) or "none was given" in str(exc):
            return Finding("store", WARN, "not checked: the store key is protected by a passphrase. Run the doctor "
                                          "on a terminal, or give --passphrase-file.")
        return Finding("store", FAIL, f"the key file cannot be used: {exc}.")
    except OSError as exc:
        return Finding("store", FAIL, f"the key file cannot be read: {exc}.")
    try:
        conn = connect(data.database(key), key.key)
    except StoreError as exc:
        return Finding("store", FAIL, f"the store does not open: {exc}. Restore the newest backup.")
    try:
        intact = check_integrity(conn)
        version = schema_version(conn)
    except StoreError as exc:
        return Finding("store", FAIL, f"the store could not be checked: {exc}.")
    except Exception as exc:  # sqlcipher3.DatabaseError and friends: a damaged file
        return Finding("store", FAIL, f"the store is damaged ({exc}). Restore the newest backup.")
    finally:
        conn.close()
    if not intact:
        return Finding("store", FAIL, "the store fails its integrity check: the file is damaged. Stop the node and "
                                      "restore the newest backup (docs/operations.md).")
    return Finding("store", OK, f"the store opens with its key and passes the integrity checks (schema {version}).")


# --- backups ----------------------------------------------------------------------------------

def check_backups(backup_dir: Path | None, now: float) -> Finding:
    """Age of the newest backup file."""
    if backup_dir is None:
        return Finding("backups", WARN, "no backup directory given (--backup-dir), so backups were not checked.")
    if not backup_dir.is_dir():
        return Finding("backups", FAIL, f"the backup directory {backup_dir} does not exist (is the disk mounted?).")
    found = [p for p in backup_dir.iterdir()
             if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".partial")]
    if not found:
        return Finding("backups", FAIL, f"there are no backups in {backup_dir} yet. Make one now with: "
                                        "sudo systemctl start fristed-backup.service")
    newest = max(found, key=lambda p: p.stat().st_mtime)
    hours = (now - newest.stat().st_mtime) / 3600
    text = (f"the newest backup, {newest.name}, is {_duration(hours * 3600)} old "
            f"({len(found)} in {backup_dir}, {_size(sum(p.stat().st_size for p in found))}).")
    if hours > BACKUP_FAIL_HOURS:
        return Finding("backups", FAIL, f"{text} Backups have stopped; see: journalctl -u fristed-backup -n 50")
    if hours > BACKUP_WARN_HOURS:
        return Finding("backups", WARN, f"{text} The nightly backup did not run last night.")
    return Finding("backups", OK, text)


# --- TURN -------------------------------------------------------------------------------------

def parse_hostport(target: str, default_port: int = 3478) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or ``turn:host:port?transport=udp``."""
    text = target.strip()
    for prefix in ("turn:", "stun:", "turns:", "stuns:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.split("?", 1)[0]
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default_port
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, default_port


def stun_binding_request() -> tuple[bytes, bytes]:
    """An RFC 5389 Binding request (no attributes) and its transaction id."""
    transaction = secrets.token_bytes(12)
    return struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + transaction, transaction


def parse_stun_response(data: bytes, transaction: bytes) -> tuple[str, str | None] | None:
    """("success" | "error", mapped address or None) for a response to ``transaction``, else None."""
    if len(data) < 20:
        return None
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != STUN_MAGIC or data[8:20] != transaction or len(data) < 20 + length:
        return None
    if kind == 0x0111:
        return "error", None
    if kind != 0x0101:
        return None
    mapped, pos = None, 20
    while pos + 4 <= 20 + length:
        attr, size = struct.unpack("!HH", data[pos:pos + 4])
        value = data[pos + 4:pos + 4 + size]
        if attr == 0x0020 and len(value) >= 8 and value[1] == 0x01:  # XOR-MAPPED-ADDRESS, IPv4
            port = struct.unpack("!H", value[2:4])[0] ^ (STUN_MAGIC >> 16)
            addr = struct.unpack("!I", value[4:8])[0] ^ STUN_MAGIC
            mapped = f"{socket.inet_ntoa(struct.pack('!I', addr))}:{port}"
        pos += 4 + size + (-size % 4)
    return "success", mapped


def check_turn(target: str, timeouts: Sequence[float] = STUN_TIMEOUTS) -> Finding:
    """Send a STUN Binding request over UDP and wait for the answer."""
    try:
        host, port = parse_hostport(target)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (ValueError, OSError) as exc:
        return Finding("turn", FAIL, f"cannot use the TURN address {target!r} ({exc}).")
    family, _, _, _, address = infos[0]
    request, transaction = stun_binding_request()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
        except OSError as exc:
            return Finding("turn", FAIL, f"cannot reach the TURN relay at {host}:{port} ({exc}).")
        started = time.monotonic()
        for timeout in timeouts:
            sock.settimeout(timeout)
            try:
                sock.send(request)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    answer = parse_stun_response(sock.recv(2048), transaction)
                    if answer is not None:
                        ms = (time.monotonic() - started) * 1000
                        seen = f"; it sees this box as {answer[1]}" if answer[1] else ""
                        return Finding("turn", OK, f"the TURN relay at {host}:{port} answers ({ms:.0f} ms{seen}).")
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                return Finding("turn", FAIL, f"nothing listens at {host}:{port} (UDP); is coturn running? "
                                             "sudo systemctl status coturn")
            except OSError as exc:
                return Finding("turn", FAIL, f"cannot reach the TURN relay at {host}:{port} ({exc}).")
    waited = sum(timeouts)
    return Finding("turn", FAIL, f"no answer from the TURN relay at {host}:{port} within {waited:g} s. Check that "
                                 "coturn runs and that the firewall and router let UDP through.")


# --- all together -------------------------------------------------------------------------------

def run_doctor(data_dir: Path, *, url: str | None, turn: str | None, now: float | None = None,
               backup_dir: Path | None = None, cert: Path | None = None,
               passphrase: PassphraseSource | None = None) -> list[Finding]:
    """Every check, in the order an IT person would look."""
    now = time.time() if now is None else now
    checks: list[tuple[str, Callable[[], Finding]]] = [("service", check_service)]
    if url:
        checks.append(("health", lambda: check_health(url, data_dir, cert)))
    checks += [("disk", lambda: check_disk(data_dir)), ("certificate", lambda: check_certificate(data_dir, cert)),
               ("clock", lambda: check_clock(data_dir, now)), ("store", lambda: check_store(data_dir, passphrase)),
               ("backups", lambda: check_backups(backup_dir, now))]
    if turn:
        checks.append(("turn", lambda: check_turn(turn)))
    findings = []
    for name, check in checks:
        try:
            findings.append(check())
        except Exception as exc:  # one broken check must not hide the others
            findings.append(Finding(name, FAIL, f"the check itself failed: {exc!r}"))
    return findings


def render(findings: Sequence[Finding], data_dir: Path) -> str:
    label = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}
    lines = [f"fristed doctor: {data_dir}"]
    lines += [f"  {label.get(f.status, f.status):<5} {f.check:<12} {f.message}" for f in findings]
    fails = sum(f.status == FAIL for f in findings)
    warns = sum(f.status == WARN for f in findings)
    oks = sum(f.status == OK for f in findings)
    if fails:
        verdict = f"{fails} problem{'s' if fails != 1 else ''} to fix"
    elif warns:
        verdict = "working, with something to look at"
    else:
        verdict = "all good"
    lines.append(f"Summary: {verdict} ({fails} failed, {warns} warnings, {oks} ok).")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The doctor's own options (``--data-dir`` and ``--passphrase-file`` are the CLI's global ones)."""
    parser.add_argument("--url", help="the node's base URL, to call /healthz (e.g. https://localhost:8443/)")
    parser.add_argument("--turn", help="TURN relay to test with a STUN request, host:port (e.g. 127.0.0.1:3478)")
    parser.add_argument("--backup-dir", type=Path, help="where the backups are written")
    parser.add_argument("--cert", type=Path, help="the certificate the node serves, if it is not the node's own")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")


def main(args: argparse.Namespace) -> int:
    """Run every check for the parsed ``args``, print the findings, return 1 if any failed."""
    data_dir = Path(args.data_dir).expanduser()
    findings = run_doctor(data_dir, url=args.url, turn=args.turn, backup_dir=args.backup_dir, cert=args.cert,
                          passphrase=passphrase_source(getattr(args, "passphrase_file", None)))
    if getattr(args, "json", False):
        print(json.dumps([asdict(f) for f in findings], ensure_ascii=False, indent=1))
    else:
        print(render(findings, data_dir))
    return 1 if any(f.status == FAIL for f in findings) else 0


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m node.doctor``: the same as ``fristed doctor``."""
    parser = argparse.ArgumentParser(prog="fristed doctor", description="Check this fristed node.")
    parser.add_argument("--data-dir", default=str(default_data_dir()), help="data directory (default: %(default)s)")
    parser.add_argument("--passphrase-file", type=Path, help="file holding the store passphrase")
    add_arguments(parser)
    return main(parser.parse_args(argv))


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _duration(seconds: float) -> str:
    scales = ((90.0, 1, "second"), (90.0 * 60, 60, "minute"), (48.0 * 3600, 3600, "hour"), (float("inf"), 86400, "day"))
    size, unit = next((size, unit) for limit, size, unit in scales if seconds < limit)
    count = round(seconds / size)
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _days(days: float) -> str:
    return f"{days:.0f} day{'s' if round(days) != 1 else ''}" if days >= 1 else f"{days * 24:.0f} hours"


if __name__ == "__main__":
    sys.exit(cli())
