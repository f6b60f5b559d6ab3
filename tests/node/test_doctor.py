"""`fristed doctor` against real nodes, real files and a real STUN exchange."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from aioice import stun
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto.storekey import generate_key, read_key_file, write_key_file
from node import doctor
from node.backup import write_backup
from node.datadir import DataDir
from node.doctor import FAIL, OK, WARN, Finding, run_doctor
from node.server import start
from tests.conftest import make_config

PASSPHRASE = "en lang og hemmelig sætning"


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


async def stopped_node(data: Path, **overrides: object) -> Path:
    """A data directory with a real store and TLS files, made by a node that then stops."""
    node = await start(make_config(data, **overrides))
    await node.stop()
    return data


def stub(directory: Path, name: str, script: str) -> str:
    """A small executable standing in for a system tool this machine cannot run for real."""
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def short_lived_certificate(path: Path, days: float) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=30))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# --- the whole doctor against a running node ---------------------------------------------------------

async def test_healthy_node_has_no_failures(tmp_path: Path) -> None:
    node = await start(make_config(tmp_path / "data"))
    try:
        backups = tmp_path / "backups"
        backups.mkdir()
        data = DataDir(tmp_path / "data")
        write_backup(data, read_key_file(data.key_file), backups / "fristed-20250101T013000Z.fbk")
        url = f"https://localhost:{node.port}/"
        findings = await asyncio.to_thread(run_doctor, data.root, url=url, turn=None, backup_dir=backups)
    finally:
        await node.stop()
    found = by_check(findings)
    assert [f.check for f in findings] == ["service", "health", "disk", "certificate", "clock", "store", "backups"]
    assert found["health"].status == OK and "fristed" in found["health"].message
    assert found["store"].status == OK and "integrity" in found["store"].message
    assert found["certificate"].status == OK and "fingerprint" in found["certificate"].message
    assert found["backups"].status == OK and "fristed-20250101T013000Z.fbk" in found["backups"].message
    assert found["disk"].status in (OK, WARN)
    assert not [f for f in findings if f.status == FAIL], findings


async def test_stopped_node_fails_health_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = await stopped_node(tmp_path / "data")
    port = _free_port()
    code = doctor.cli(["--data-dir", str(data), "--url", f"https://localhost:{port}/"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  health" in out and "does not answer" in out
    assert out.splitlines()[-1].startswith("Summary: 1 problem to fix")


async def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = await stopped_node(tmp_path / "data")
    code = doctor.cli(["--data-dir", str(data), "--json"])
    findings = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {f["check"] for f in findings} == {"service", "disk", "certificate", "clock", "store", "backups"}
    assert all(set(f) == {"check", "status", "message"} for f in findings)


async def test_fristed_doctor_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`fristed doctor` through node/cli.py (doctor.add_arguments + doctor.main)."""
    from node import cli

    parser = cli.parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices  # noqa: SLF001
    assert "doctor" in subcommands
    data = await stopped_node(tmp_path / "data")
    assert cli.main(["--data-dir", str(data), "doctor", "--json"]) == 0
    assert {f["check"] for f in json.loads(capsys.readouterr().out)} >= {"store", "certificate", "disk"}


# --- store --------------------------------------------------------------------------------------

async def test_store_damage_is_a_failure(tmp_path: Path) -> None:
    node = await start(make_config(tmp_path / "data"))
    for i in range(300):
        await node.ctx.store.write(lambda c, i=i: c.execute(
            "INSERT INTO conversations (id, pseudonym, created) VALUES (?, ?, ?)", (f"c{i}", "x" * 200, 0.0)))
    await node.stop()
    data = DataDir(tmp_path / "data")
    db = data.database(read_key_file(data.key_file))
    assert doctor.check_store(data.root).status == OK
    raw = bytearray(db.read_bytes())
    assert len(raw) > 5 * 4096
    raw[3 * 4096 + 100] ^= 0xFF  # one flipped bit in the middle of page 4
    db.write_bytes(bytes(raw))
    finding = doctor.check_store(data.root)
    assert finding.status == FAIL and "backup" in finding.message


async def test_wrong_key_and_missing_node(tmp_path: Path) -> None:
    data = DataDir(await stopped_node(tmp_path / "data"))
    key = read_key_file(data.key_file)
    write_key_file(data.key_file, generate_key(), key.database)
    finding = doctor.check_store(data.root)
    assert finding.status == FAIL and "does not open" in finding.message
    empty = doctor.check_store(tmp_path / "nothing")
    assert empty.status == FAIL and "no store.key" in empty.message


async def test_passphrase_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = DataDir(tmp_path / "data")
    node = await start(make_config(data.root), passphrase=lambda: PASSPHRASE)
    await node.stop()
    monkeypatch.delenv("FRISTED_PASSPHRASE", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    unknown = doctor.check_store(data.root, doctor.passphrase_source(None))
    assert unknown.status == WARN and "passphrase" in unknown.message
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    assert doctor.check_store(data.root, doctor.passphrase_source(secret)).status == OK
    # as systemd hands it over: a credential named fristed-passphrase
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "fristed-passphrase").write_text(PASSPHRASE)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert doctor.check_store(data.root, doctor.passphrase_source(None)).status == OK
    (creds / "fristed-passphrase").write_text("not the passphrase")
    wrong = doctor.check_store(data.root, doctor.passphrase_source(None))
    assert wrong.status == FAIL and "cannot unlock" in wrong.message


# --- certificates and clock ---------------------------------------------------------------------------

async def test_certificate_expiry(tmp_path: Path) -> None:
    data = await stopped_node(tmp_path / "data")
    assert doctor.check_certificate(data).status == OK
    elsewhere = tmp_path / "fullchain.pem"
    for days, status in ((60, OK), (20, WARN), (3, FAIL), (-2, FAIL)):
        short_lived_certificate(elsewhere, days)
        finding = doctor.check_certificate(data, elsewhere)
        assert finding.status == status, (days, finding)
    assert "expired" in finding.message and "certbot" in finding.message
    assert doctor.check_certificate(tmp_path / "none").status == WARN


async def test_clock(tmp_path: Path) -> None:
    data = await stopped_node(tmp_path / "data")
    now = time.time()
    synced = doctor.check_clock(data, now, timedatectl=stub(tmp_path, "tdc-yes", "echo yes\n"))
    assert synced.status == OK
    unsynced = doctor.check_clock(data, now, timedatectl=stub(tmp_path, "tdc-no", "echo no\n"))
    assert unsynced.status == WARN and "not synchronised" in unsynced.message
    broken = doctor.check_clock(data, now, timedatectl=stub(tmp_path, "tdc-err", "echo 'no bus' >&2; exit 1\n"))
    assert broken.status == WARN and "cannot tell" in broken.message
    behind = doctor.check_clock(data, now - 400 * 86400, timedatectl=stub(tmp_path, "tdc-yes2", "echo yes\n"))
    assert behind.status == FAIL and "before this node's certificate" in behind.message


# --- service ------------------------------------------------------------------------------------

def test_service_states(tmp_path: Path) -> None:
    systemd_dir = tmp_path / "run-systemd-system"
    systemd_dir.mkdir()
    cases = {"active": OK, "activating": WARN, "failed": FAIL, "inactive": FAIL}
    for state, status in cases.items():
        tool = stub(tmp_path, f"systemctl-{state}",
                    f'case "$1" in show) echo loaded ;; is-active) echo {state}; exit 3 ;; esac\n')
        finding = doctor.check_service(systemctl=tool, systemd_dir=systemd_dir)
        assert finding.status == status, (state, finding)
    missing = stub(tmp_path, "systemctl-missing", 'case "$1" in show) echo not-found ;; *) echo inactive ;; esac\n')
    assert doctor.check_service(systemctl=missing, systemd_dir=systemd_dir).status == WARN
    # no systemd as PID 1 (this test machine, a laptop): said plainly, not guessed
    outside = doctor.check_service(systemctl=missing, systemd_dir=tmp_path / "absent")
    assert outside.status == WARN and "not under systemd" in outside.message


# --- backups ------------------------------------------------------------------------------------

def test_backup_age(tmp_path: Path) -> None:
    now = time.time()
    assert doctor.check_backups(None, now).status == WARN
    assert doctor.check_backups(tmp_path / "missing", now).status == FAIL
    backups = tmp_path / "backups"
    backups.mkdir()
    assert "no backups" in doctor.check_backups(backups, now).message
    (backups / ".hidden").write_text("x")
    (backups / "fristed-x.fbk.partial").write_text("x")
    assert doctor.check_backups(backups, now).status == FAIL  # unfinished files do not count
    newest = backups / "fristed-20250101T013000Z.fbk"
    newest.write_bytes(b"x" * 1000)
    for hours, status in ((5, OK), (48, WARN), (100, FAIL)):
        os.utime(newest, (now - hours * 3600, now - hours * 3600))
        assert doctor.check_backups(backups, now).status == status, hours


# --- TURN: a STUN binding exchange over real UDP ----------------------------------------------------

class StunResponder:
    """A UDP STUN server built on aioice's own STUN code, so the doctor's hand-made packets meet an
    independent implementation."""

    def __init__(self, answer: str = "success") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            request = stun.parse_message(data)
            assert request.message_method == stun.Method.BINDING and request.message_class == stun.Class.REQUEST
            self.seen += 1
            if self.answer == "silent":
                continue
            response = stun.Message(message_method=stun.Method.BINDING,
                                    message_class=stun.Class.RESPONSE if self.answer == "success" else stun.Class.ERROR,
                                    transaction_id=request.transaction_id)
            if self.answer == "success":
                response.attributes["XOR-MAPPED-ADDRESS"] = addr
            else:
                response.attributes["ERROR-CODE"] = (401, "Unauthorized")
            self.sock.sendto(bytes(response), addr)

    def __enter__(self) -> "StunResponder":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_turn_answers() -> None:
    with StunResponder() as server:
        finding = doctor.check_turn(f"127.0.0.1:{server.port}")
    assert finding.status == OK and "answers" in finding.message
    assert "sees this box as 127.0.0.1:" in finding.message
    with StunResponder("error") as server:  # an error response still proves the relay is there
        assert doctor.check_turn(f"turn:127.0.0.1:{server.port}?transport=udp").status == OK


def test_turn_silence_and_refusal() -> None:
    with StunResponder("silent") as server:
        began = time.monotonic()
        finding = doctor.check_turn(f"127.0.0.1:{server.port}", timeouts=(0.2, 0.2, 0.2))
        assert server.seen == 3  # retransmitted, then gave up
    assert finding.status == FAIL and "no answer" in finding.message
    assert time.monotonic() - began < 3
    refused = doctor.check_turn(f"127.0.0.1:{_free_port(socket.SOCK_DGRAM)}")
    assert refused.status == FAIL and "nothing listens" in refused.message
    assert doctor.check_turn("no-such-host.invalid:3478").status == FAIL


def test_stun_parsing_is_strict() -> None:
    request, transaction = doctor.stun_binding_request()
    assert len(request) == 20 and request[:2] == b"\x00\x01" and request[4:8] == b"\x21\x12\xa4\x42"
    parsed = stun.parse_message(request)  # aioice agrees it is a Binding request
    assert parsed.message_method == stun.Method.BINDING and parsed.transaction_id == transaction
    other = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=b"x" * 12)
    assert doctor.parse_stun_response(bytes(other), transaction) is None  # someone else's transaction
    assert doctor.parse_stun_response(b"short", transaction) is None
    assert doctor.parse_hostport("[::1]:5349") == ("::1", 5349)
    assert doctor.parse_hostport("relay.example.dk") == ("relay.example.dk", 3478)


# --- disk ---------------------------------------------------------------------------------------

def test_disk_space_is_reported_for_the_data_directory(tmp_path: Path) -> None:
    finding = doctor.check_disk(tmp_path / "not-yet-created")
    assert finding.status in (OK, WARN, FAIL)
    assert "free of" in finding.message and str(tmp_path / "not-yet-created") in finding.message


def test_one_broken_check_does_not_hide_the_rest(tmp_path: Path) -> None:
    findings = run_doctor(tmp_path, url=None, turn="[::1", backup_dir=None)  # a malformed TURN address
    assert [f.check for f in findings][-1] == "turn" and findings[-1].status == FAIL


def test_data_dir_owned_by_someone_else_is_not_opened_as_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    (tmp_path / "store.key").write_text("{}")
    os.chown(tmp_path, 12345, 12345)
    finding = doctor.check_store(tmp_path)
    assert finding.status == WARN and "as the node's user" in finding.message
    assert stat.S_IMODE(os.stat(tmp_path).st_mode)  # untouched


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _no_ambient_passphrase(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("FRISTED_PASSPHRASE", raising=False)
    yield
