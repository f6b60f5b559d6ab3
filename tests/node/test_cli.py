"""The `fristed` command for real, in subprocesses: serve with sd_notify and SIGTERM, staff, audit,
backup, restore and rekey."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from crypto import totp
from crypto.storekey import read_key_file
from node import accounts
from node.datadir import DataDir
from node.store import connect, transaction

pytestmark = pytest.mark.slow


def fristed(data: Path, *args: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "node", "--data-dir", str(data), *args],
                            capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
                            stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, result.stderr
    return result


class Served:
    """A `fristed serve` process on an ephemeral port."""

    def __init__(self, data: Path, env: dict[str, str] | None = None, custody: str = "file") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node", "--data-dir", str(data), "serve", "--host", "127.0.0.1",
             "--port", "0", "--no-zeroconf", "--key-custody", custody],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL)
        self.lines: list[str] = []
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("node exited: " + (self.proc.stderr.read() if self.proc.stderr else ""))
            self.lines.append(line)
            match = re.search(r"Open https://[^:]+:(\d+)/", line)
            if match:
                self.port = int(match.group(1))
                break
        else:
            raise AssertionError("node did not start")
        self.ca = data / "tls" / "ca.crt"

    def get(self, path: str) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        with urllib.request.urlopen(f"https://localhost:{self.port}{path}", context=ctx, timeout=10) as resp:
            return resp.status, resp.read()

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        assert self.proc.stdout is not None
        self.lines.append(self.proc.stdout.read())  # the same buffered stream readline used
        return self.proc.returncode, "".join(self.lines)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(15)
    yield sock
    sock.close()


def test_serve_notifies_systemd_answers_and_stops_gracefully_on_sigterm(
        tmp_path: Path, notify_socket: socket.socket) -> None:
    data = tmp_path / "data"
    node = Served(data, env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"})
    assert notify_socket.recv(256) == b"READY=1"
    assert notify_socket.recv(256) == b"WATCHDOG=1"
    status, body = node.get("/healthz")
    assert status == 200 and json.loads(body)["store"] is True
    code, output = node.stop()
    assert code == 0
    assert re.search(r"Local CA fingerprint \(SHA-256\): ([0-9A-F]{2}:){31}[0-9A-F]{2}", output)
    states = []
    while True:
        try:
            states.append(notify_socket.recv(256))
        except socket.timeout:
            break
        if states[-1] == b"STOPPING=1":
            break
    assert b"STOPPING=1" in states
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(entry.get("event") == "http" and entry.get("route") == "/healthz" for entry in logs)
    assert any(entry.get("event") == "stopped" for entry in logs)
    for entry in logs:  # structured logs never carry an address
        assert "127.0.0.1" not in json.dumps(entry)
    assert data.stat().st_mode & 0o777 == 0o700
    for path in data.rglob("*"):
        if path.is_file() and path.name != "ca.crt" and path.name != "server.crt":
            assert path.stat().st_mode & 0o077 == 0, path


def test_staff_commands_and_audit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = Served(data)
    try:
        added = fristed(data, "staff", "add", "Karin", "--role", "admin", "--url", "https://fristed.example")
        code = re.search(r"enrol#code=(\S+)", added.stdout)
        assert code, added.stdout
        assert "One-time enrolment code for Karin" in added.stdout
        listed = fristed(data, "staff", "list").stdout
        assert re.search(r"Karin\s+admin\s+pending", listed)
        # enrol through the store (as the web page would), then check reset and disable
        key = read_key_file(DataDir(data).key_file)
        conn = connect(DataDir(data).database(key), key.key)
        now = time.time()
        _, secret = transaction(conn, accounts.enrol_start, code.group(1), now)
        transaction(conn, accounts.enrol_finish, code.group(1), "en god lang adgangskode", totp.code_at(secret, now),
                    now)
        conn.close()
        assert re.search(r"Karin\s+admin\s+active", fristed(data, "staff", "list").stdout)
        reset = fristed(data, "staff", "reset", "Karin")
        assert "One-time enrolment code" in reset.stdout
        fristed(data, "staff", "disable", "Karin")
        assert re.search(r"Karin\s+admin\s+disabled", fristed(data, "staff", "list").stdout)
        dup = fristed(data, "staff", "add", "karin", "--role", "staff", check=False)
        assert dup.returncode == 2 and "exists already" in dup.stderr
        bad = fristed(data, "staff", "add", "<script>", "--role", "staff", check=False)
        assert bad.returncode == 2 and "letters" in bad.stderr
        audit_lines = fristed(data, "audit", "--subject", "Karin", "--json").stdout.splitlines()
        actions = [json.loads(line)["action"] for line in audit_lines]
        assert actions == ["account_added", "enrolled", "account_reset", "account_disabled"]
    finally:
        node.stop()


def test_backup_restore_and_rekey_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = Served(data)
    fristed(data, "staff", "add", "Ole", "--role", "staff")
    backup = tmp_path / "nat.backup"
    out = fristed(data, "backup", str(backup), "--passphrase",
                  env={"FRISTED_BACKUP_PASSPHRASE": "en lang backup-sætning"})
    assert "Encrypted backup written" in out.stdout
    refused = fristed(data, "rekey", check=False)
    assert refused.returncode == 2 and "stop it before rekeying" in refused.stderr
    code, _ = node.stop()
    assert code == 0

    restored = tmp_path / "restored"
    fristed(restored, "restore", str(backup), "--key-file", str(data / "store.key"))
    assert "Ole" in fristed(restored, "staff", "list").stdout
    by_pass = tmp_path / "by-passphrase"
    fristed(by_pass, "restore", str(backup), env={"FRISTED_BACKUP_PASSPHRASE": "en lang backup-sætning"})
    assert "Ole" in fristed(by_pass, "staff", "list").stdout
    again = fristed(restored, "restore", str(backup), "--key-file", str(data / "store.key"), check=False)
    assert again.returncode == 2 and "not empty" in again.stderr

    before = read_key_file(data / "store.key")
    fristed(data, "rekey")
    after = read_key_file(data / "store.key")
    assert after.key != before.key
    assert "Ole" in fristed(data, "staff", "list").stdout


def test_passphrase_custody_from_first_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = Served(data, env={"FRISTED_NEW_PASSPHRASE": "natten er lang og mørk"}, custody="passphrase")
    node.stop()
    assert '"custody": "passphrase"' in (data / "store.key").read_text()
    assert "natten" not in (data / "store.key").read_text()
    wrong = fristed(data, "staff", "list", env={"FRISTED_PASSPHRASE": "forkert forkert"}, check=False)
    assert wrong.returncode == 2 and "cannot unlock the store key" in wrong.stderr
    missing = fristed(data, "staff", "list", check=False)
    assert missing.returncode == 2 and "passphrase is needed" in missing.stderr
    ok = fristed(data, "staff", "list", env={"FRISTED_PASSPHRASE": "natten er lang og mørk"})
    assert "No staff accounts yet" in ok.stdout
    cred_dir = tmp_path / "creds"
    cred_dir.mkdir()
    (cred_dir / "fristed-passphrase").write_text("natten er lang og mørk\n")
    via_credential = fristed(data, "staff", "list", env={"CREDENTIALS_DIRECTORY": str(cred_dir)})
    assert via_credential.returncode == 0


def test_commands_on_an_empty_directory_fail_clearly(tmp_path: Path) -> None:
    result = fristed(tmp_path / "nothing", "staff", "list", check=False)
    assert result.returncode == 2 and "holds no node" in result.stderr
    assert "Traceback" not in result.stderr


def test_centre_settings_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Served(data).stop()
    shown = json.loads(fristed(data, "centre", "show").stdout)
    assert shown["retention_days"] == 30 and "Andet" in shown["topics"]
    change = tmp_path / "c.json"
    change.write_text(json.dumps({"retention_days": 14, "canned": [{"title": "Hej", "text": "Hej, hvordan går det?"}]}))
    out = fristed(data, "centre", "set", str(change)).stdout
    assert '"retention_days": 14' in out and "Hej, hvordan går det?" in out
    change.write_text(json.dumps({"retention_days": 9999}))
    bad = fristed(data, "centre", "set", str(change), check=False)
    assert bad.returncode == 2 and "retention_days" in bad.stderr
    assert json.loads(fristed(data, "centre", "show").stdout)["retention_days"] == 14
