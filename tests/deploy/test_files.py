"""The files the Raspberry Pi deploy installs, checked by the real tools: systemd-analyze, cloud-init,
nft, coturn, and the node's own code. Fast; the full deploy onto a debootstrapped root is in
test_deploy.py."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest
from aioice import stun
from aioice.turn import TurnClientUdpProtocol

from crypto.ca import ensure_local_tls, fingerprint
from crypto.storekey import read_key_file
from node import __version__
from node.backup import restore_backup
from node.datadir import DataDir
from node.discovery import txt_record
from node.doctor import check_turn
from node.server import start
from node.store import connect
from tests.conftest import make_config
from tests.deploy.helpers import DEPLOY, EXPOSURE_LIMIT, UNIT, exec_paths, exposure, fd, free_port, load_script, \
    verify_root

needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze is not installed here")

ALL_CUSTODY = [fd.Settings.from_data({"key_custody": c}) for c in fd.KEY_CUSTODY]


def rendered_units(settings: fd.Settings) -> dict[str, str]:
    """Every unit and drop-in the deploy would write for ``settings`` (relative to /etc/systemd/system)."""
    units = {
        "fristed.service": UNIT.read_text(encoding="utf-8"),
        "fristed.service.d/10-site.conf": fd.site_dropin(settings, "fristed-01"),
        "fristed-backup.service": fd.backup_service(settings),
        "fristed-backup.timer": fd.backup_timer(settings),
        "fristed-avahi.service": fd.avahi_unit(settings, "fristed-01"),
        "apt-daily-upgrade.timer.d/10-fristed.conf": fd.upgrade_timer_dropin(settings),
    }
    if (custody := fd.custody_dropin(settings)) is not None:
        units["fristed.service.d/20-key-custody.conf"] = custody
    if (backup_custody := fd.backup_custody_dropin(settings)) is not None:
        units["fristed-backup.service.d/20-key-custody.conf"] = backup_custody
    if settings.key_custody == "passphrase-prompt":
        units["fristed-unlock.service"] = fd.unlock_unit()
    if (mount := fd.data_mount_unit(settings)) is not None:
        units["var-lib-fristed.mount"] = mount
    return units


def install_units(root: Path, units: dict[str, str]) -> list[str]:
    programs = sorted({p for text in units.values() for p in exec_paths(text)})
    verify_root(root, programs)
    for name, text in units.items():
        path = root / "etc/systemd/system" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [name for name in units if "/" not in name]


# --- the hardened unit ------------------------------------------------------------------------

def test_unit_has_the_required_hardening() -> None:
    text = UNIT.read_text(encoding="utf-8")
    lines = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in text.splitlines()
             if "=" in line and not line.startswith("#")}
    assert lines["Type"] == "notify" and lines["WatchdogSec"]
    assert lines["User"] == "fristed" and lines["StateDirectory"] == "fristed"
    assert lines["ProtectSystem"] == "strict" and lines["NoNewPrivileges"] == "yes"
    assert lines["CapabilityBoundingSet"] == ""  # empty: no capabilities at all
    assert "@system-service" in text and "SystemCallFilter=@system-service" in text
    assert lines["RestrictAddressFamilies"].split() == ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]
    assert "--no-zeroconf" in lines["ExecStart"] and "--port 8443" in lines["ExecStart"]


@needs_systemd_analyze
@pytest.mark.parametrize("settings", ALL_CUSTODY, ids=lambda s: s.key_custody)
def test_units_verify_cleanly(tmp_path: Path, settings: fd.Settings) -> None:
    settings.data_disk = "/srv/fristed-disk"
    names = install_units(tmp_path, rendered_units(settings))
    out = subprocess.run(["systemd-analyze", "verify", f"--root={tmp_path}", *names], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", f"systemd-analyze verify warned:\n{out.stderr}"


@needs_systemd_analyze
def test_verify_notices_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt directive is reported."""
    broken = UNIT.read_text(encoding="utf-8").replace("NoNewPrivileges=", "NoNewPrivilegez=")
    install_units(tmp_path, {"fristed.service": broken})
    out = subprocess.run(["systemd-analyze", "verify", f"--root={tmp_path}", "fristed.service"],
                         capture_output=True, text=True, check=False)
    assert "NoNewPrivilegez" in out.stderr


@needs_systemd_analyze
def test_unit_exposure_is_below_limit() -> None:
    figure = exposure(str(UNIT))
    print(f"\nsystemd-analyze security --offline=true fristed.service: {figure}")
    assert figure < EXPOSURE_LIMIT


@needs_systemd_analyze
@pytest.mark.parametrize("settings", ALL_CUSTODY + [fd.Settings.from_data(
    {"turn": True, "tls": "files", "tls_cert_file": "c", "tls_key_file": "k"})], ids=["file", "prompt", "credential",
                                                                                      "turn+tls"])
def test_unit_with_drop_ins_stays_below_limit(tmp_path: Path, settings: fd.Settings) -> None:
    names = install_units(tmp_path, rendered_units(settings))
    for unit in ("fristed.service", "fristed-backup.service", "fristed-avahi.service", "fristed-unlock.service"):
        if unit in names:
            assert exposure(unit, tmp_path) < EXPOSURE_LIMIT, unit


# --- first boot ---------------------------------------------------------------------------------

def _cloud_init() -> str:
    path = shutil.which("cloud-init")
    if path is None:
        pytest.skip("cloud-init is not installed here (CI installs it with apt)")
    return path


def test_user_data_is_valid_cloud_config() -> None:
    out = subprocess.run([_cloud_init(), "schema", "--config-file", str(DEPLOY / "user-data")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Valid cloud-config" in out.stdout


def test_schema_check_catches_a_broken_user_data(tmp_path: Path) -> None:
    broken = tmp_path / "user-data"
    broken.write_text((DEPLOY / "user-data").read_text().replace("  - name: itadmin", "  - nam: itadmin"))
    out = subprocess.run([_cloud_init(), "schema", "--config-file", str(broken)], capture_output=True, text=True,
                         check=False)
    assert out.returncode != 0


def test_user_data_is_key_only_without_passwordless_sudo() -> None:
    python = Path(_cloud_init()).read_text().splitlines()[0].removeprefix("#!").strip()  # cloud-init's Python has yaml
    out = subprocess.run([python, "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"],
                         input=(DEPLOY / "user-data").read_text(), capture_output=True, text=True, check=True)
    config = json.loads(out.stdout)
    assert (DEPLOY / "user-data").read_text().startswith("#cloud-config\n")
    assert config["hostname"] and config["ssh_pwauth"] is False and config["disable_root"] is True
    (user,) = config["users"]
    assert user["name"] == "itadmin"
    assert user["ssh_authorized_keys"] and "plain_text_passwd" not in user
    assert "NOPASSWD" not in user["sudo"] and user["sudo"].endswith("ALL")
    # the placeholder hash matches no password, so an unedited file leaves sudo locked
    assert not user["passwd"].startswith("$")


# --- firewall ---------------------------------------------------------------------------------

FIREWALL_CASES = {
    "lan only": ({}, ["192.168.1.0/24"]),
    "turn+certbot+v6": ({"turn": True, "tls": "certbot", "public_name": "fristed.example.dk",
                        "certbot_email": "it@example.dk"}, ["10.20.0.0/16", "2001:db8:5::/64"]),
    "no redirect": ({"redirect_443": False, "https_port": 9443}, ["172.16.4.0/22"]),
}


@pytest.mark.parametrize("case", FIREWALL_CASES, ids=list(FIREWALL_CASES))
def test_firewall_rules(tmp_path: Path, case: str) -> None:
    data, lan = FIREWALL_CASES[case]
    settings = fd.Settings.from_data(data)
    text = fd.nftables_conf(settings, lan)
    assert "policy drop;" in text and "flush ruleset" in text
    ssh_rules = [line.strip() for line in text.splitlines() if "dport 22 " in line]
    assert ssh_rules and all("saddr" in rule for rule in ssh_rules), "SSH must be limited to the LAN"
    for net in lan:
        assert net in text
    assert ("th dport 3478" in text) == settings.turn
    assert ("tcp dport 80 " in text) == (settings.tls == "certbot")
    assert ("redirect to :8443" in text) == (case != "no redirect")
    assert "udp dport 40000-40999 accept" in text
    nft = shutil.which("nft")
    if nft is None:
        pytest.skip("nft is not installed here")
    path = tmp_path / "nftables.conf"
    path.write_text(text)
    out = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    if out.returncode != 0 and "Operation not permitted" in out.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert out.returncode == 0, out.stderr


def test_settings_refuse_mistakes() -> None:
    with pytest.raises(fd.SettingsError, match="key_custody"):
        fd.Settings.from_data({"key_custody": "tpm"})
    with pytest.raises(fd.SettingsError, match="overlap"):
        fd.Settings.from_data({"turn": True, "media_ports": [49000, 49500]})
    with pytest.raises(fd.SettingsError, match="ssh_allow"):
        fd.Settings.from_data({"ssh_allow": ["not-a-network"]})
    with pytest.raises(fd.SettingsError, match="certbot"):
        fd.Settings.from_data({"tls": "certbot"})
    with pytest.raises(fd.SettingsError, match="absolute path"):
        fd.Settings.from_data({"backup_target": "backups; rm -rf /"})
    with pytest.raises(fd.SettingsError, match="1024"):
        fd.Settings.from_data({"https_port": 443})


def test_networks_and_addresses_from_ip_addr() -> None:
    sample = ("2: eth0    inet 192.168.1.23/24 brd 192.168.1.255 scope global dynamic eth0\\ valid_lft 8000sec\n"
              "2: eth0    inet6 2001:db8:5::23/64 scope global dynamic mngtmpaddr\\ valid_lft 86000sec\n"
              "3: wlan0    inet 10.0.7.9/16 brd 10.0.255.255 scope global wlan0\n")
    assert fd.lan_networks(sample) == ["192.168.1.0/24", "2001:db8:5::/64", "10.0.0.0/16"]
    assert fd.own_addresses(sample) == ["192.168.1.23", "2001:db8:5::23", "10.0.7.9"]
    assert fd.address_allowed("192.168.1.50", ["192.168.1.0/24"])
    assert not fd.address_allowed("192.168.2.50", ["192.168.1.0/24"])
    assert fd.address_allowed("::ffff:192.168.1.50", ["192.168.1.0/24"])
    assert fd.address_allowed("fe80::1%eth0", ["fe80::/10"])


def test_wrapper_scripts_are_valid_shell(tmp_path: Path) -> None:
    for settings in ALL_CUSTODY:
        for text in (fd.doctor_wrapper(settings), fd.admin_wrapper(), fd.certbot_hook()):
            script = tmp_path / "script"
            script.write_text(text)
            subprocess.run(["sh", "-n", str(script)], check=True)
    for name in ("fristed-backup", "fristed-release"):
        subprocess.run(["sh", "-n", str(DEPLOY / "files" / name)], check=True)


# --- TURN: a real coturn with the deploy's configuration ---------------------------------------

@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, str, str]]:
    """coturn on 127.0.0.1 with the config the deploy writes; yields (port, secret, allowed node address)."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.skip("coturn (turnserver) is not installed here")
    port = free_port()
    relay = free_port(kind=2)  # SOCK_DGRAM
    low = min(max(relay, 20000), 65000)
    settings = fd.Settings.from_data({"turn": True, "turn_port": port, "turn_relay_ports": [low, low + 20],
                                      "media_ports": [10000, 10100]})
    secret = "test-secret-" + os.urandom(8).hex()
    node = "192.0.2.77"  # TEST-NET-1: in a denied range, allowed as "the node"
    conf = fd.turnserver_conf(settings, [node], "fristed.test", listening_ips=["127.0.0.1"])
    assert f"static-auth-secret={fd.SECRET_PLACEHOLDER}" in conf
    path = tmp_path / "turnserver.conf"
    path.write_text(conf.replace(fd.SECRET_PLACEHOLDER, secret) + f"pidfile={tmp_path / 'turn.pid'}\n")
    proc = subprocess.Popen([binary, "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and check_turn(f"127.0.0.1:{port}", timeouts=(0.2,)).status != "ok":
            if proc.poll() is not None:
                pytest.fail(f"coturn refused the config: {proc.stderr.read().decode() if proc.stderr else ''}")
        yield port, secret, node
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_doctor_reaches_coturn_with_the_deploy_config(coturn: tuple[int, str, str]) -> None:
    port, _secret, _node = coturn
    finding = check_turn(f"turn:127.0.0.1:{port}?transport=udp")
    assert finding.status == "ok", finding.message
    assert "answers" in finding.message


async def test_coturn_relays_only_to_the_node(coturn: tuple[int, str, str]) -> None:
    """Short-lived REST credentials work; private, loopback and reserved peers are refused; the node is not."""
    port, secret, node = coturn
    username = f"{int(time.time()) + 600}:doctor-test"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(("127.0.0.1", port), username=username, password=password, lifetime=600,
                                      channel_refresh_time=500),
        remote_addr=("127.0.0.1", port))
    try:
        await client.connect()
        await client.channel_bind(0x4000, (node, 40000))  # the node's own address: allowed
        for number, peer in enumerate(["10.1.2.3", "192.168.1.1", "127.0.0.1", "169.254.1.1", "100.64.0.1"],
                                      start=0x4001):
            with pytest.raises(stun.TransactionFailed) as failed:
                await client.channel_bind(number, (peer, 40000))
            assert failed.value.response.error_code == 403, peer
    finally:
        if client.refresh_task is not None:
            client.refresh_task.cancel()
        transport.close()

    expired = f"{int(time.time()) - 10}:doctor-test"
    stale = base64.b64encode(hmac.new(secret.encode(), expired.encode(), hashlib.sha1).digest()).decode()
    transport, client = await loop.create_datagram_endpoint(
        lambda: TurnClientUdpProtocol(("127.0.0.1", port), username=expired, password=stale, lifetime=600,
                                      channel_refresh_time=500),
        remote_addr=("127.0.0.1", port))
    try:
        with pytest.raises(stun.TransactionFailed) as failed:
            await client.connect()
        assert failed.value.response.error_code == 401  # an expired credential is refused
    finally:
        transport.close()


# --- Avahi: the same record the node would announce itself -----------------------------------------

def test_avahi_service_file_matches_the_nodes_own_record(tmp_path: Path) -> None:
    render = load_script("fristed-avahi-render")
    data = tmp_path / "data"
    tls = ensure_local_tls(data / "tls", "fristed-01", ["fristed-01", "localhost"], [])
    out = tmp_path / "services" / "fristed.service"
    assert render.main(["--data-dir", str(data), "--name", "fristed.01", "--port", "8443", "--out", str(out)]) == 0
    root = ET.fromstring(out.read_text())
    assert root.tag == "service-group" and root.findtext("name") == "fristed-01"
    service = root.find("service")
    assert service is not None and service.findtext("type") == "_fristed._tcp" and service.findtext("port") == "8443"
    txt = dict(t.text.split("=", 1) for t in service.findall("txt-record") if t.text)
    assert txt == txt_record(__version__, "fristed.01", 8443, tls.fingerprint, "https")
    assert txt["fp"] == fingerprint(__import__("cryptography.x509", fromlist=["x"]).load_pem_x509_certificate(
        (data / "tls" / "ca.crt").read_bytes()))
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    before = out.stat().st_mtime_ns
    assert render.main(["--data-dir", str(data), "--name", "fristed.01", "--out", str(out)]) == 0
    assert out.stat().st_mtime_ns == before  # unchanged record: file untouched, avahi not disturbed
    assert render.main(["--data-dir", str(tmp_path / "nothing"), "--name", "x", "--out", str(out)]) == 1


# --- backups and releases: the shell scripts, run for real --------------------------------------------

async def test_backup_script_writes_a_restorable_backup_and_keeps_n(tmp_path: Path) -> None:
    node = await start(make_config(tmp_path / "data"))
    await node.stop()
    backups = tmp_path / "backups"
    backups.mkdir()
    old = ["fristed-20240101T013000Z.fbk", "fristed-20240102T013000Z.fbk", "fristed-20240103T013000Z.fbk"]
    for name in old:
        (backups / name).write_bytes(b"old")
    (backups / "notes.txt").write_text("not a backup")
    env = {**os.environ, "FRISTED_BACKUP_DIR": str(backups), "FRISTED_BACKUP_KEEP": "2",
           "FRISTED_DATA_DIR": str(tmp_path / "data"), "FRISTED_BIN": str(Path(sys.executable).parent / "fristed")}
    out = subprocess.run(["sh", str(DEPLOY / "files" / "fristed-backup")], env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in backups.iterdir())
    new = [n for n in names if n.endswith(".fbk") and n not in old]
    assert len(new) == 1 and names == sorted([new[0], old[-1], "notes.txt"])
    assert oct((backups / new[0]).stat().st_mode & 0o777) == "0o600"
    restored = DataDir(tmp_path / "restored")
    restore_backup(restored, backups / new[0], old_key=read_key_file(tmp_path / "data" / "store.key"),
                   passphrase=None)
    key = read_key_file(restored.key_file)
    connect(restored.database(key), key.key).close()

    bad = subprocess.run(["sh", str(DEPLOY / "files" / "fristed-backup")],
                         env={**env, "FRISTED_BACKUP_DIR": str(tmp_path / "missing")}, capture_output=True, text=True)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_release_script_switches_rolls_back_and_prunes(tmp_path: Path) -> None:
    script = DEPLOY / "files" / "fristed-release"
    env = {**os.environ, "FRISTED_PREFIX": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", str(script), *args], env=env, capture_output=True, text=True, check=False)

    for i, name in enumerate(["0.1.0-aaa", "0.1.1-bbb", "0.1.2-ccc", "0.2.0-ddd"]):
        release = tmp_path / "releases" / name
        release.mkdir(parents=True)
        (release / ".complete").touch()
        os.utime(release, (1_700_000_000 + i, 1_700_000_000 + i))
    (tmp_path / "releases" / "0.3.0-half").mkdir()  # an interrupted install is never switched to
    assert run("switch", "0.3.0-half").returncode == 2
    assert run("switch", "0.1.2-ccc").returncode == 0
    assert run("switch", "0.2.0-ddd").returncode == 0
    assert os.readlink(tmp_path / "venv") == "releases/0.2.0-ddd"
    assert run("current").stdout.strip() == "0.2.0-ddd"
    listing = run("list").stdout
    assert "* 0.2.0-ddd" in listing and "- 0.1.2-ccc" in listing
    rollback = run("rollback")
    assert rollback.returncode == 0 and "switched 0.2.0-ddd -> 0.1.2-ccc" in rollback.stdout
    assert os.readlink(tmp_path / "venv") == "releases/0.1.2-ccc"
    assert run("prune", "2").returncode == 0
    left = sorted(p.name for p in (tmp_path / "releases").iterdir())
    assert "0.1.2-ccc" in left and "0.2.0-ddd" in left  # active and previous always stay
    assert "0.1.0-aaa" not in left


def test_a_source_archive_release_is_named_and_built_on_the_box() -> None:
    # a wheel carries the C forwarding loop built for the machine that made it; a Pi gets the source
    assert fd.wheel_version("../../dist/fristed-0.1.0.tar.gz") == "0.1.0"
    assert fd.wheel_version("fristed-0.1.0-cp311-cp311-linux_aarch64.whl") == "0.1.0"
    assert fd.is_source_archive("dist/fristed-0.1.0.tar.gz")
    assert not fd.is_source_archive("dist/fristed-0.1.0-py3-none-any.whl")
    assert {"gcc", "python3-dev"} <= set(fd.BUILD_PACKAGES)
    for bad in ["other-0.1.0.tar.gz", "fristed.tar.gz", "fristed-0.1.0-extra.tar.gz", "fristed-0.1.0.zip"]:
        with pytest.raises(fd.SettingsError):
            fd.wheel_version(bad)


def test_the_source_archive_carries_the_c_packet_path(tmp_path: Path) -> None:
    # the box builds media._outlet, media._inlet and media._estimator from it: every source and header
    # must be inside
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=repo, check=True,
                   capture_output=True)
    archive = next(tmp_path.glob("fristed-*.tar.gz"))
    with tarfile.open(archive) as tar:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in tar.getnames() if "/" in n}
    assert {"media/_outlet.c", "media/_outlet.h", "media/_inlet.c", "media/_estimator.c", "media/_estimator.h",
            "setup.py"} <= names
