"""pyinfra deploy: turn a Raspberry Pi OS (or any Debian 12+) box into a fristed node.

Run from this directory (see README.md)::

    pyinfra inventory.py deploy.py --use-sudo-password

Settings come from group_data/all.py and inventory.py (names as in ``fristed_deploy.Settings``).
Safe to run again at any time: it converges the box, and it installs a new fristed release next
to the old one, switching only when the new one is complete (``fristed-release rollback`` on the
box undoes an upgrade).

On a target without a running systemd (a chroot, ``in_chroot = True``) units are installed and
enabled but nothing is started, restarted or reloaded.
"""
from __future__ import annotations

import shlex
import sys
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.server import Command, Hostname
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fristed_deploy as fd  # noqa: E402  (lives beside this file)

S = fd.Settings.from_data(host.data.dict())


def fact(command: str, **kwargs: object) -> str:
    """Output of a shell command on the box, read before any operation runs."""
    return (host.get_fact(Command, command=f"{command} 2>/dev/null || true", **kwargs) or "").strip()


def put_text(text: str, dest: str, mode: str = "644", user: str = "root", group: str = "root",
             name: str | None = None):  # type: ignore[no-untyped-def]
    return files.put(name=name or f"Write {dest}", src=StringIO(text), dest=dest, user=user, group=group,
                     mode=mode)


def put_file(local: str, dest: str, mode: str = "755"):  # type: ignore[no-untyped-def]
    return files.put(name=f"Install {dest}", src=str(fd.FILES / local), dest=dest, user="root", group="root",
                     mode=mode)


# --- what the box is like -------------------------------------------------------------------------

SYSTEMD_RUNNING = not S.in_chroot and fact("test -d /run/systemd/system && echo yes") == "yes"
HOSTNAME = host.get_fact(Hostname) or "fristed"
NODE_NAME = S.node_name or HOSTNAME.split(".")[0]
IP_ADDR = fact("ip -o addr show scope global")
LAN = S.ssh_allow or fd.lan_networks(IP_ADDR)
NODE_ADDRESSES = S.turn_node_addresses or fd.own_addresses(IP_ADDR)
CURRENT_RELEASE = fact(f"readlink {fd.VENV}").rsplit("/", 1)[-1]
RELEASE = fd.release_name(S)
UPGRADING = CURRENT_RELEASE != RELEASE
INITIALISED = fact(f"test -f {fd.DATA_DIR}/store.key && echo yes") == "yes"
WAS_ACTIVE = SYSTEMD_RUNNING and fact("systemctl is-active fristed.service") == "active"

if not LAN:
    raise DeployError("cannot tell the LAN's networks (no global address?); set ssh_allow in the inventory")
ssh_client = "" if S.in_chroot else fact("echo ${SSH_CONNECTION%% *}", _sudo=False)
if ssh_client and not fd.address_allowed(ssh_client, [*LAN, "fe80::/10"]):
    raise DeployError(f"you connect from {ssh_client}, which is outside ssh_allow ({', '.join(LAN)}); the "
                      "firewall would shut you out. Add your network to ssh_allow in the inventory.")
if S.data_disk and not S.in_chroot and fact(f"mountpoint -q {S.data_disk} && echo yes") != "yes":
    raise DeployError(f"data_disk {S.data_disk} is not a mounted disk; mount the USB SSD there first "
                      "(README: 'The data disk'), or remove data_disk to keep data on the SD card")
if (S.data_on_disk and INITIALISED and fact(f"mountpoint -q {fd.DATA_DIR} && echo yes") != "yes"
        and fact(f"test -e {S.data_on_disk}/store.key && echo yes") != "yes"):
    raise DeployError(f"the node's data is still in {fd.DATA_DIR} on the SD card; move it to the data disk first: "
                      f"sudo systemctl stop fristed; sudo cp -a {fd.DATA_DIR}/. {S.data_on_disk}/; then run the "
                      "deploy again (README: 'The data disk')")
if S.key_custody != "file" and not INITIALISED:
    raise DeployError("start the node once with key_custody = 'file', then move the key under a passphrase "
                      "(README: 'Key custody')")
if S.key_custody == "passphrase-credential" and fact(f"test -f {fd.CREDENTIAL_FILE} && echo yes") != "yes":
    raise DeployError(f"key_custody = 'passphrase-credential' needs {fd.CREDENTIAL_FILE}; create it first "
                      "(README: 'Key custody')")

# --- packages and the service user ------------------------------------------------------------------

packages = ["python3", "python3-venv", "nftables", "iproute2", "ca-certificates"]
if S.unattended_upgrades:
    packages += ["unattended-upgrades", "apt-listchanges"]
if S.advertise == "avahi":
    packages.append("avahi-daemon")
if S.turn:
    packages.append("coturn")
if S.tls == "certbot":
    packages.append("certbot")
if S.fristed_wheel and fd.is_source_archive(S.fristed_wheel):
    packages += fd.BUILD_PACKAGES  # pip builds the C packet path on the box
apt.packages(name="Install system packages", packages=packages, update=S.apt_update, cache_time=3600,
             no_recommends=True)

server.group(name="Service group fristed", group=fd.SERVICE_USER, system=True)
server.user(name="Service user fristed (no login, no home of its own)", user=fd.SERVICE_USER,
            group=fd.SERVICE_USER, system=True, shell="/usr/sbin/nologin", home=fd.DATA_DIR,
            ensure_home=False, create_home=False, comment="fristed node")

for path, mode in ((fd.PREFIX, "755"), (fd.RELEASES, "755"), (fd.BIN, "755"), (f"{fd.PREFIX}/dist", "755"),
                   (fd.ETC, "755")):
    files.directory(name=f"Directory {path}", path=path, user="root", group="root", mode=mode)

# --- the data directory (on the data disk when there is one) ---------------------------------------

if S.data_on_disk:
    files.directory(name="Data directory on the data disk", path=S.data_on_disk, user=fd.SERVICE_USER,
                    group=fd.SERVICE_USER, mode="700")
data_dir_op = files.directory(name="Data directory", path=fd.DATA_DIR, user=fd.SERVICE_USER,
                              group=fd.SERVICE_USER, mode="700")
mount_unit = fd.data_mount_unit(S)
mount_op = put_text(mount_unit, f"{fd.UNIT_DIR}/var-lib-fristed.mount") if mount_unit else files.file(
    name="No data-disk mount", path=f"{fd.UNIT_DIR}/var-lib-fristed.mount", present=False)
if S.backup_enabled:
    files.directory(name="Backup directory", path=S.backup_target, user=fd.SERVICE_USER, group=fd.SERVICE_USER,
                    mode="700")

# --- the fristed release: a fresh venv per release, switched by a symlink ---------------------------

wheel_on_box = wheelhouse_on_box = requirements_on_box = None
if S.fristed_wheel:
    wheel_on_box = f"{fd.PREFIX}/dist/{Path(S.fristed_wheel).name}"
    files.put(name="Upload the fristed release", src=str(Path(S.fristed_wheel).resolve()), dest=wheel_on_box,
              mode="644")
if S.fristed_wheelhouse:
    wheelhouse_on_box = f"{fd.PREFIX}/wheelhouse"
    files.sync(name="Upload the dependency wheels", src=str(Path(S.fristed_wheelhouse).resolve()),
               dest=wheelhouse_on_box, mode="644", dir_mode="755", delete=True)
if S.fristed_requirements:
    requirements_on_box = f"{fd.PREFIX}/dist/requirements.lock"
    files.put(name="Upload the hash-pinned requirements", src=str(Path(S.fristed_requirements).resolve()),
              dest=requirements_on_box, mode="644")

release_dir = f"{fd.RELEASES}/{RELEASE}"
pip_commands = fd.pip_install_commands(S, f"{release_dir}/bin/pip", wheel_on_box, wheelhouse_on_box,
                                       requirements_on_box)
server.shell(
    name=f"Install fristed release {RELEASE}",
    commands=[
        f"if [ ! -f {release_dir}/.complete ]; then set -e; rm -rf {release_dir}; "
        f"python3 -m venv {release_dir}; "
        + "; ".join(pip_commands)
        + f"; {release_dir}/bin/fristed --version; touch {release_dir}/.complete; fi"
    ],
)

release_tool = put_file("fristed-release", f"{fd.BIN}/fristed-release")
files.link(name="fristed-release on the PATH", path="/usr/local/sbin/fristed-release",
           target=f"{fd.BIN}/fristed-release")
put_file("fristed-backup", f"{fd.BIN}/fristed-backup")
put_file("fristed-avahi-render", f"{fd.BIN}/fristed-avahi-render")
files.put(name="Install the runbook", src=str(fd.HERE / "README.md"), dest=f"{fd.PREFIX}/README.md", mode="644")
put_text(fd.admin_wrapper(), "/usr/local/bin/fristed", mode="755")
put_text(fd.doctor_wrapper(S), "/usr/local/sbin/fristed-doctor", mode="755")

# --- TLS from elsewhere --------------------------------------------------------------------------

tls_ops = []
if S.external_tls:
    files.directory(name="TLS directory", path=fd.TLS_DIR, user="root", group=fd.SERVICE_USER, mode="750")
if S.tls == "files":
    tls_ops.append(files.put(name="Certificate chain", src=str(Path(S.tls_cert_file).resolve()),  # type: ignore[arg-type]
                             dest=f"{fd.TLS_DIR}/fullchain.pem", user="root", group=fd.SERVICE_USER, mode="640"))
    tls_ops.append(files.put(name="Certificate key", src=str(Path(S.tls_key_file).resolve()),  # type: ignore[arg-type]
                             dest=f"{fd.TLS_DIR}/privkey.pem", user="root", group=fd.SERVICE_USER, mode="640"))

# --- systemd units ----------------------------------------------------------------------------

unit_ops = [mount_op]
unit_ops.append(files.put(name="The hardened fristed unit", src=str(fd.HERE / "fristed.service"),
                          dest=f"{fd.UNIT_DIR}/fristed.service", user="root", group="root", mode="644"))
files.directory(name="fristed.service.d", path=fd.DROPIN_DIR, user="root", group="root", mode="755")
unit_ops.append(put_text(fd.site_dropin(S, NODE_NAME), f"{fd.DROPIN_DIR}/10-site.conf"))
custody = fd.custody_dropin(S)
unit_ops.append(put_text(custody, f"{fd.DROPIN_DIR}/20-key-custody.conf") if custody else files.file(
    name="No key-custody drop-in (key file)", path=f"{fd.DROPIN_DIR}/20-key-custody.conf", present=False))
if S.key_custody == "passphrase-prompt":
    unit_ops.append(put_text(fd.unlock_unit(), f"{fd.UNIT_DIR}/fristed-unlock.service"))

backup_units = []
if S.backup_enabled:
    backup_units.append(put_text(fd.backup_service(S), f"{fd.UNIT_DIR}/fristed-backup.service"))
    backup_units.append(put_text(fd.backup_timer(S), f"{fd.UNIT_DIR}/fristed-backup.timer"))
    files.directory(name="fristed-backup.service.d", path=fd.BACKUP_DROPIN_DIR, user="root", group="root",
                    mode="755")
    backup_custody = fd.backup_custody_dropin(S)
    backup_units.append(
        put_text(backup_custody, f"{fd.BACKUP_DROPIN_DIR}/20-key-custody.conf") if backup_custody else files.file(
            name="No backup key-custody drop-in", path=f"{fd.BACKUP_DROPIN_DIR}/20-key-custody.conf", present=False))

avahi_ops = []
if S.advertise == "avahi":
    files.directory(name="Avahi services directory", path="/etc/avahi/services", user="root", group="root",
                    mode="755")
    avahi_ops.append(put_text(fd.avahi_unit(S, NODE_NAME), f"{fd.UNIT_DIR}/fristed-avahi.service"))
else:
    avahi_ops.append(files.file(name="No Avahi advertisement unit", path=f"{fd.UNIT_DIR}/fristed-avahi.service",
                                present=False))
    files.file(name="No Avahi service file", path=fd.AVAHI_SERVICE_FILE, present=False)

# --- firewall ---------------------------------------------------------------------------------

nft_candidate = put_text(fd.nftables_conf(S, LAN), f"{fd.ETC}/nftables.conf", mode="755")
reload_nft = "if [ -d /run/systemd/system ]; then systemctl enable nftables.service; " \
             "systemctl reload-or-restart nftables.service; fi" if SYSTEMD_RUNNING else \
             "systemctl enable nftables.service"
server.shell(
    name="Check and install the firewall rules",
    commands=[
        f"nft -c -f {fd.ETC}/nftables.conf",
        f"if ! cmp -s {fd.ETC}/nftables.conf /etc/nftables.conf; then "
        f"install -m 0755 {fd.ETC}/nftables.conf /etc/nftables.conf; fi",
        reload_nft,
    ],
)

# --- logs, updates, watchdog, ssh ------------------------------------------------------------------

files.directory(name="journald.conf.d", path="/etc/systemd/journald.conf.d", user="root", group="root",
                mode="755")
journald_op = put_text(fd.journald_conf(S), "/etc/systemd/journald.conf.d/10-fristed.conf")
if S.unattended_upgrades:
    put_text(fd.AUTO_UPGRADES, "/etc/apt/apt.conf.d/20auto-upgrades")
    put_text(fd.unattended_upgrades_conf(S), "/etc/apt/apt.conf.d/52fristed-unattended-upgrades")
    files.directory(name="apt-daily-upgrade.timer.d", path=f"{fd.UNIT_DIR}/apt-daily-upgrade.timer.d",
                    user="root", group="root", mode="755")
    unit_ops.append(put_text(fd.upgrade_timer_dropin(S), f"{fd.UNIT_DIR}/apt-daily-upgrade.timer.d/10-fristed.conf"))
if S.hardware_watchdog:
    files.directory(name="system.conf.d", path="/etc/systemd/system.conf.d", user="root", group="root", mode="755")
    put_text(fd.WATCHDOG_CONF, "/etc/systemd/system.conf.d/10-fristed-watchdog.conf")
if S.harden_ssh and fact("test -x /usr/sbin/sshd && echo yes") == "yes":
    sshd_op = put_text(fd.SSHD_CONF, "/etc/ssh/sshd_config.d/10-fristed.conf")
    server.shell(name="Check sshd's configuration and reload it", commands=[
        "sshd -t",
        "if [ -d /run/systemd/system ]; then systemctl reload ssh.service; fi" if SYSTEMD_RUNNING else "true",
    ], _if=sshd_op.did_change)

# --- TURN (coturn) ----------------------------------------------------------------------------

if S.turn:
    realm = S.public_name or NODE_NAME
    server.shell(name="TURN shared secret (made on the box, never leaves it)", commands=[
        f"test -s {fd.TURN_SECRET_FILE} || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' "
        f"> {fd.TURN_SECRET_FILE})",
        f"chown root:root {fd.TURN_SECRET_FILE}",
        f"chmod 0600 {fd.TURN_SECRET_FILE}",
    ])
    put_text(fd.turnserver_conf(S, NODE_ADDRESSES, realm), f"{fd.ETC}/turnserver.conf.in")
    restart_coturn = "systemctl restart coturn.service" if SYSTEMD_RUNNING else "true"
    server.shell(name="coturn configuration with the secret filled in", commands=[
        f"set -e; secret=$(cat {fd.TURN_SECRET_FILE}); umask 027; "
        f"sed \"s|{fd.SECRET_PLACEHOLDER}|$secret|\" {fd.ETC}/turnserver.conf.in > /etc/turnserver.conf.fristed-new; "
        "chgrp turnserver /etc/turnserver.conf.fristed-new; "
        "if cmp -s /etc/turnserver.conf.fristed-new /etc/turnserver.conf; then rm -f /etc/turnserver.conf.fristed-new; "
        f"else mv /etc/turnserver.conf.fristed-new /etc/turnserver.conf; {restart_coturn}; fi",
    ])
else:
    server.shell(name="No TURN relay: coturn off if installed", commands=[
        "if [ -f /lib/systemd/system/coturn.service ]; then systemctl disable "
        + ("--now " if SYSTEMD_RUNNING else "") + "coturn.service; fi",
    ])

# --- certbot ----------------------------------------------------------------------------------

if S.tls == "certbot":
    files.directory(name="certbot deploy hooks", path="/etc/letsencrypt/renewal-hooks/deploy", user="root",
                    group="root", mode="755")
    put_text(fd.certbot_hook(), "/etc/letsencrypt/renewal-hooks/deploy/fristed", mode="755")
    if SYSTEMD_RUNNING:
        live = f"/etc/letsencrypt/live/{S.public_name}"
        server.shell(name=f"Certificate for {S.public_name} (HTTP-01, port 80)", commands=[
            f"test -f {live}/fullchain.pem || certbot certonly --standalone --non-interactive --agree-tos "
            f"-m {shlex.quote(S.certbot_email or '')} -d {S.public_name}",
            f"test -f {fd.TLS_DIR}/fullchain.pem || RENEWED_LINEAGE={live} "
            "/etc/letsencrypt/renewal-hooks/deploy/fristed",
        ])

# --- switch to the new release ------------------------------------------------------------------

if SYSTEMD_RUNNING:
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(*unit_ops, *backup_units, *avahi_ops))
if UPGRADING and CURRENT_RELEASE and INITIALISED and SYSTEMD_RUNNING and S.backup_enabled:
    server.shell(name=f"Backup before leaving release {CURRENT_RELEASE}", commands=[
        "if systemctl is-active -q fristed.service; then systemctl start fristed-backup.service; fi",
    ])
if UPGRADING:
    server.shell(name=f"Make {RELEASE} the active release", commands=[
        f"{fd.BIN}/fristed-release switch {RELEASE}"])
server.shell(name=f"Keep the newest {S.keep_releases} releases", commands=[
    f"{fd.BIN}/fristed-release prune {int(S.keep_releases)}"])

# --- enable, start, restart --------------------------------------------------------------------

units = ["fristed.service"]
if S.data_disk:
    units.insert(0, "var-lib-fristed.mount")
if S.backup_enabled:
    units.append("fristed-backup.timer")
if S.advertise == "avahi":
    units.append("fristed-avahi.service")
if S.turn:
    units.append("coturn.service")

if SYSTEMD_RUNNING:
    systemd.service(name="journald picks up its settings", service="systemd-journald.service", restarted=True,
                    _if=journald_op.did_change)
    for unit in units:
        systemd.service(name=f"{unit} enabled and running", service=unit, running=True, enabled=True)
    restart_triggers = [*unit_ops, *tls_ops, data_dir_op]
    if UPGRADING and WAS_ACTIVE:
        systemd.service(name="Restart fristed on the new release", service="fristed.service", restarted=True)
    else:
        systemd.service(name="Restart fristed after configuration changes", service="fristed.service",
                        restarted=WAS_ACTIVE, _if=any_changed(*restart_triggers))
    if not S.backup_enabled:
        server.shell(name="No backup timer", commands=[
            "systemctl disable --now fristed-backup.timer 2>/dev/null || true"])
else:
    for unit in units:
        if fact(f"systemctl is-enabled {unit}") not in ("enabled", "static"):
            server.shell(name=f"Enable {unit} (systemd is not running here)", commands=[f"systemctl enable {unit}"])

# --- last: no passwordless sudo ------------------------------------------------------------------

server.shell(
    name=f"sudo asks {S.admin_user} for a password (only once the account has one)",
    commands=[
        f"hash=$(getent shadow {S.admin_user} | cut -d: -f2); "
        "case \"$hash\" in ''|'!'*|'*'*) exit 0 ;; esac; "
        "for f in /etc/sudoers.d/010_pi-nopasswd /etc/sudoers.d/90-cloud-init-users; do "
        "[ -f \"$f\" ] && grep -q NOPASSWD \"$f\" || continue; "
        "cp -p \"$f\" \"$f.fristed-orig\"; sed -i 's/NOPASSWD: *//' \"$f\"; "
        "if visudo -cqf \"$f\"; then rm -f \"$f.fristed-orig\"; else mv \"$f.fristed-orig\" \"$f\"; fi; done",
    ],
)
