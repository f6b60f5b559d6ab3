"""Settings and rendered configuration files for the fristed Raspberry Pi deploy.

Everything here is plain Python with no pyinfra import, so the files the deploy writes can be
rendered and checked in tests (``nft -c``, ``systemd-analyze verify``, a real coturn) without a box.
``deploy.py`` turns a host's inventory data into :class:`Settings` and uploads what these functions
return.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"

# Where things live on the box.
PREFIX = "/opt/fristed"
RELEASES = f"{PREFIX}/releases"
VENV = f"{PREFIX}/venv"  # symlink to the active release
BIN = f"{PREFIX}/bin"
DATA_DIR = "/var/lib/fristed"
ETC = "/etc/fristed"
TLS_DIR = f"{ETC}/tls"
UNIT_DIR = "/etc/systemd/system"
DROPIN_DIR = f"{UNIT_DIR}/fristed.service.d"
BACKUP_DROPIN_DIR = f"{UNIT_DIR}/fristed-backup.service.d"
CREDENTIAL_FILE = "/etc/credstore.encrypted/fristed-passphrase.cred"
UNLOCK_FILE = "/run/fristed-unlock/passphrase"
TURN_SECRET_FILE = f"{ETC}/turn-secret"
AVAHI_SERVICE_FILE = "/etc/avahi/services/fristed.service"
SERVICE_USER = "fristed"

KEY_CUSTODY = ("file", "passphrase-prompt", "passphrase-credential")
ADVERTISE = ("avahi", "zeroconf", "none")
TLS_MODES = ("local-ca", "certbot", "files")

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_CALENDAR = re.compile(r"^[0-9*:/., -]+$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_SPAN = re.compile(r"^[0-9]+(s|min|h|day|week|month)?$")
_SIZE = re.compile(r"^[0-9]+[KMG]?$")


class SettingsError(ValueError):
    """An inventory setting is missing or wrong; the message says which and why."""


def _networks(values: Any, what: str) -> list[str]:
    if isinstance(values, str):
        values = [v for v in re.split(r"[,\s]+", values) if v]
    out = []
    for value in values or []:
        try:
            out.append(str(ipaddress.ip_network(str(value), strict=False)))
        except ValueError as exc:
            raise SettingsError(f"{what}: {value!r} is not an address or network ({exc})") from exc
    return out


def _port_range(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, str):
        value = value.replace(":", "-").split("-")
    try:
        low, high = (int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{what} must be two port numbers, like [40000, 40999]") from exc
    if not 1024 <= low <= high <= 65535:
        raise SettingsError(f"{what} must lie within 1024-65535 with the lower port first")
    return low, high


@dataclass
class Settings:
    """One node's settings. Names match the keys of ``group_data/all.py`` and ``inventory.py``."""

    # The fristed release: a wheel or a source archive (sdist) built from this repository, or a
    # version from PyPI. A source archive is built on the box, with its C packet path.
    fristed_wheel: str | None = None
    fristed_version: str = "0.1.0"
    fristed_wheelhouse: str | None = None  # a directory of dependency wheels: install offline
    fristed_requirements: str | None = None  # a hash-pinned requirements file (pip --require-hashes)
    keep_releases: int = 3
    # Identity and HTTPS.
    node_name: str | None = None  # shown to consoles; default: the box's host name
    public_name: str | None = None  # the DNS name citizens open, if there is one
    https_port: int = 8443
    redirect_443: bool = True
    tls: str = "local-ca"  # local-ca | certbot | files
    tls_cert_file: str | None = None  # tls = "files": certificate chain on this computer
    tls_key_file: str | None = None
    certbot_email: str | None = None
    # Network.
    ssh_allow: list[str] = field(default_factory=list)  # default: the box's own LAN networks
    media_ports: tuple[int, int] = (40000, 40999)
    advertise: str = "avahi"  # avahi | zeroconf | none
    # Storage and backups.
    data_disk: str | None = None  # mount point of the USB SSD; None keeps data on the SD card
    backup_target: str = "/var/backups/fristed"
    backup_keep: int = 14
    backup_time: str = "*-*-* 01:30"
    backup_enabled: bool = True
    key_custody: str = "file"  # file | passphrase-prompt | passphrase-credential
    # TURN relay for remote participants.
    turn: bool = False
    turn_port: int = 3478
    turn_relay_ports: tuple[int, int] = (49160, 49400)
    turn_external_ip: str | None = None  # public address when the box sits behind NAT
    turn_node_addresses: list[str] = field(default_factory=list)  # default: the box's own addresses
    turn_log: bool = False
    # Operating system.
    unattended_upgrades: bool = True
    upgrade_time: str = "02:30"
    reboot_time: str = "03:30"
    journal_retention: str = "7day"
    journal_max_use: str = "64M"
    hardware_watchdog: bool = True
    harden_ssh: bool = True
    admin_user: str = "itadmin"
    # Test and special targets.
    in_chroot: bool = False
    apt_update: bool = True

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> "Settings":
        """Build from inventory data, ignoring keys that belong to pyinfra itself."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names and v is not None}
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.key_custody not in KEY_CUSTODY:
            raise SettingsError(f"key_custody must be one of {', '.join(KEY_CUSTODY)}")
        if self.advertise not in ADVERTISE:
            raise SettingsError(f"advertise must be one of {', '.join(ADVERTISE)}")
        if self.tls not in TLS_MODES:
            raise SettingsError(f"tls must be one of {', '.join(TLS_MODES)}")
        if self.tls == "certbot" and not (self.public_name and self.certbot_email):
            raise SettingsError("tls = 'certbot' needs public_name and certbot_email")
        if self.tls == "files" and not (self.tls_cert_file and self.tls_key_file):
            raise SettingsError("tls = 'files' needs tls_cert_file and tls_key_file")
        for name in (self.node_name, self.public_name):
            if name is not None and not _NAME.match(name):
                raise SettingsError(f"{name!r} is not a usable host or node name (letters, digits, '.', '-')")
        if not 1024 <= int(self.https_port) <= 65535:
            raise SettingsError("https_port must be 1024-65535 (the node runs without privileges)")
        self.media_ports = _port_range(self.media_ports, "media_ports")
        self.turn_relay_ports = _port_range(self.turn_relay_ports, "turn_relay_ports")
        if self.turn and not (self.turn_relay_ports[1] < self.media_ports[0]
                              or self.media_ports[1] < self.turn_relay_ports[0]):
            raise SettingsError("media_ports and turn_relay_ports overlap")
        self.ssh_allow = _networks(self.ssh_allow, "ssh_allow")
        self.turn_node_addresses = [str(ipaddress.ip_address(a)) for a in self.turn_node_addresses]
        if self.turn_external_ip:
            ipaddress.ip_address(self.turn_external_ip)
        for path in (self.backup_target, self.data_disk):
            if path is not None and (not path.startswith("/") or any(c in path for c in " \"'\\$`")):
                raise SettingsError(f"{path!r} must be an absolute path without spaces or quotes")
        if int(self.backup_keep) < 1 or int(self.keep_releases) < 2:
            raise SettingsError("backup_keep must be at least 1 and keep_releases at least 2")
        if not _CALENDAR.match(self.backup_time):
            raise SettingsError("backup_time must be a systemd calendar time like '*-*-* 01:30'")
        for name in ("upgrade_time", "reboot_time"):
            if not _TIME.match(getattr(self, name)):
                raise SettingsError(f"{name} must be HH:MM")
        if not _SPAN.match(self.journal_retention) or not _SIZE.match(self.journal_max_use):
            raise SettingsError("journal_retention is like '7day', journal_max_use like '64M'")
        if not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", self.admin_user):
            raise SettingsError("admin_user is not a valid user name")

    # Derived values.
    @property
    def data_on_disk(self) -> str | None:
        """Where the data really lives when a data disk is used."""
        return f"{self.data_disk.rstrip('/')}/fristed" if self.data_disk else None

    @property
    def external_tls(self) -> bool:
        return self.tls in ("certbot", "files")


# --- releases -------------------------------------------------------------------------------------

SOURCE_SUFFIX = ".tar.gz"
# what pip needs on the box to build a source archive's C extensions (media/_outlet.c, media/_inlet.c,
# media/_estimator.c)
BUILD_PACKAGES = ["gcc", "libc6-dev", "python3-dev"]


def is_source_archive(release: str) -> bool:
    """Whether the release file is a source archive (``fristed-0.1.0.tar.gz``), built on the box."""
    return Path(release).name.endswith(SOURCE_SUFFIX)


def wheel_version(wheel: str) -> str:
    """The version part of a wheel or source archive file name (``fristed-0.1.0-py3-none-any.whl``
    or ``fristed-0.1.0.tar.gz`` → ``0.1.0``)."""
    name = Path(wheel).name
    if is_source_archive(name):
        parts = name[:-len(SOURCE_SUFFIX)].split("-")
        if len(parts) == 2 and parts[0] == "fristed" and parts[1]:
            return parts[1]
        raise SettingsError(f"{wheel} is not a fristed source archive name")
    parts = name.split("-")
    if len(parts) < 5 or not parts[-1].endswith(".whl"):
        raise SettingsError(f"{wheel} is not a wheel file name")
    return parts[1]


def release_name(settings: Settings) -> str:
    """A release directory name that changes whenever the installed code would."""
    if settings.fristed_wheel:
        digest = hashlib.sha256(Path(settings.fristed_wheel).read_bytes()).hexdigest()[:12]
        return f"{wheel_version(settings.fristed_wheel)}-{digest}"
    if not re.match(r"^[0-9A-Za-z.+!-]+$", settings.fristed_version):
        raise SettingsError("fristed_version must be a plain version like 0.1.0")
    return f"{settings.fristed_version}-pypi"


def pip_install_commands(settings: Settings, pip: str, wheel_on_box: str | None,
                         wheelhouse_on_box: str | None, requirements_on_box: str | None) -> list[str]:
    """The pip commands that fill a fresh release venv."""
    common = ["--no-cache-dir", "--disable-pip-version-check", "--no-input"]
    if wheelhouse_on_box:
        common += ["--no-index", "--find-links", wheelhouse_on_box]
    target = wheel_on_box or f"fristed=={settings.fristed_version}"
    commands = []
    if requirements_on_box:
        commands.append(shlex.join([pip, "install", *common, "--require-hashes", "-r", requirements_on_box]))
        commands.append(shlex.join([pip, "install", *common, "--no-deps", target]))
    else:
        commands.append(shlex.join([pip, "install", *common, target]))
    return commands


# --- systemd --------------------------------------------------------------------------------------

def serve_command(settings: Settings, node_name: str) -> str:
    args = [f"{VENV}/bin/fristed", "--data-dir", DATA_DIR, "serve", "--port", str(settings.https_port),
            "--name", node_name]
    if settings.advertise != "zeroconf":
        args.append("--no-zeroconf")
    if settings.external_tls:
        args += ["--cert", f"{TLS_DIR}/fullchain.pem", "--key", f"{TLS_DIR}/privkey.pem"]
    if settings.public_name:
        port = "" if settings.redirect_443 else f":{settings.https_port}"
        args += ["--origin", f"https://{settings.public_name}{port}"]
    return shlex.join(args)


def site_dropin(settings: Settings, node_name: str) -> str:
    """``fristed.service.d/10-site.conf``: this node's command line and where its data lives."""
    lines = ["# Written by the fristed deploy from the inventory; edit the inventory, not this file."]
    if settings.data_disk:
        lines += ["[Unit]", f"RequiresMountsFor={DATA_DIR}", ""]
    lines += ["[Service]", "ExecStart=", f"ExecStart={serve_command(settings, node_name)}"]
    if settings.advertise == "zeroconf":
        # python-zeroconf needs multicast on the LAN; nothing else changes in the sandbox.
        lines.append("# advertise = zeroconf: the node announces itself (_fristed._tcp) on its own.")
    lo, hi = settings.media_ports
    lines.append(f"Environment=FRISTED_MEDIA_PORTS={lo}-{hi}")
    if settings.turn:
        lines.append(f"LoadCredential=fristed-turn-secret:{TURN_SECRET_FILE}")
        lines.append(f"Environment=FRISTED_TURN_PORT={settings.turn_port}")
    return "\n".join(lines) + "\n"


def custody_dropin(settings: Settings) -> str | None:
    """The drop-in that hands the store passphrase to a unit, or None for a plain key file."""
    if settings.key_custody == "passphrase-prompt":
        return ("# key_custody = passphrase-prompt: fristed-unlock.service asks for the passphrase at boot\n"
                "# (answer with: sudo systemd-tty-ask-password-agent) and keeps it in RAM only.\n"
                "[Unit]\nRequires=fristed-unlock.service\nAfter=fristed-unlock.service\n\n"
                f"[Service]\nLoadCredential=fristed-passphrase:{UNLOCK_FILE}\n")
    if settings.key_custody == "passphrase-credential":
        return ("# key_custody = passphrase-credential: the passphrase is a systemd credential encrypted\n"
                "# with this box's host key (systemd-creds); see README, \"Key custody\".\n"
                f"[Service]\nLoadCredentialEncrypted=fristed-passphrase:{CREDENTIAL_FILE}\n")
    return None


def data_mount_unit(settings: Settings) -> str | None:
    """``var-lib-fristed.mount``: bind the data directory on the data disk to /var/lib/fristed."""
    if not settings.data_disk:
        return None
    return ("# Written by the fristed deploy: the node's data lives on the data disk.\n"
            "[Unit]\nDescription=fristed data directory on the data disk\n"
            f"RequiresMountsFor={settings.data_disk}\n\n"
            f"[Mount]\nWhat={settings.data_on_disk}\nWhere={DATA_DIR}\nType=none\nOptions=bind\n\n"
            "[Install]\nWantedBy=local-fs.target\n")


_SANDBOX = """\
NoNewPrivileges=yes
CapabilityBoundingSet=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
UMask=0077
"""


def backup_service(settings: Settings) -> str:
    return f"""\
# Written by the fristed deploy: one encrypted backup of the store, keeping the newest {settings.backup_keep}.
[Unit]
Description=Encrypted backup of the fristed store
After=fristed.service
RequiresMountsFor={settings.backup_target}
ConditionPathExists={DATA_DIR}/store.key

[Service]
Type=oneshot
User={SERVICE_USER}
Group={SERVICE_USER}
StateDirectory=fristed
Environment=FRISTED_DATA_DIR={DATA_DIR}
Environment=FRISTED_BACKUP_DIR={settings.backup_target} FRISTED_BACKUP_KEEP={settings.backup_keep}
ExecStart={BIN}/fristed-backup
ReadWritePaths={settings.backup_target}
PrivateNetwork=yes
RestrictAddressFamilies=AF_UNIX
Nice=10
IOSchedulingClass=idle
{_SANDBOX}"""


def backup_timer(settings: Settings) -> str:
    return f"""\
# Written by the fristed deploy.
[Unit]
Description=Nightly encrypted backup of the fristed store

[Timer]
OnCalendar={settings.backup_time}
RandomizedDelaySec=10min
Persistent=true

[Install]
WantedBy=timers.target
"""


def avahi_unit(settings: Settings, node_name: str) -> str:
    port = 443 if settings.redirect_443 and settings.external_tls else settings.https_port
    cmd = [f"{VENV}/bin/python", f"{BIN}/fristed-avahi-render", "--data-dir", DATA_DIR, "--name", node_name,
           "--port", str(port), "--out", AVAHI_SERVICE_FILE]
    if settings.external_tls:
        cmd += ["--cert", f"{TLS_DIR}/fullchain.pem"]
    return f"""\
# Written by the fristed deploy: advertise the node through Avahi (_fristed._tcp) while it runs.
# The TXT record carries the TLS fingerprint, read from the node's files after it has started.
[Unit]
Description=Advertise fristed on the local network (Avahi service file)
After=fristed.service
PartOf=fristed.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={shlex.join(cmd)}
ExecStop=/bin/rm -f {AVAHI_SERVICE_FILE}
ReadWritePaths=/etc/avahi/services
PrivateNetwork=yes
RestrictAddressFamilies=AF_UNIX
{_SANDBOX.replace("PrivateUsers=yes", "PrivateUsers=no").replace(
    "CapabilityBoundingSet=", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH")}
[Install]
WantedBy=fristed.service
"""


def unlock_unit() -> str:
    return f"""\
# Written by the fristed deploy (key_custody = passphrase-prompt).
# Asks once per boot for the store passphrase and keeps it in RAM (a tmpfs under /run), readable
# by root only; fristed.service and fristed-backup.service load it as a credential.
# Answer over SSH with:  sudo systemd-tty-ask-password-agent
# Ask again (e.g. after a typo):  sudo systemctl restart fristed-unlock.service
[Unit]
Description=Ask for the fristed store passphrase
After=systemd-user-sessions.service

[Service]
Type=oneshot
RemainAfterExit=yes
RuntimeDirectory=fristed-unlock
RuntimeDirectoryMode=0700
UMask=0077
TimeoutStartSec=infinity
ExecStart=/bin/sh -c 'systemd-ask-password --timeout=0 --id=fristed:unlock \\
    "Passphrase for the fristed store:" > {UNLOCK_FILE}'
# The question goes through /run/systemd/ask-password; nothing else is written.
ReadWritePaths=-/run/systemd/ask-password
PrivateNetwork=yes
RestrictAddressFamilies=AF_UNIX
{_SANDBOX.replace("PrivateUsers=yes", "PrivateUsers=no")}"""


def backup_custody_dropin(settings: Settings) -> str | None:
    if settings.key_custody == "passphrase-prompt":
        return (f"[Unit]\nAfter=fristed-unlock.service\nConditionPathExists={UNLOCK_FILE}\n\n"
                f"[Service]\nLoadCredential=fristed-passphrase:{UNLOCK_FILE}\n")
    if settings.key_custody == "passphrase-credential":
        return f"[Service]\nLoadCredentialEncrypted=fristed-passphrase:{CREDENTIAL_FILE}\n"
    return None


# --- firewall -------------------------------------------------------------------------------------

def _set(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def nftables_conf(settings: Settings, lan: list[str]) -> str:
    """The whole /etc/nftables.conf: HTTPS, media and TURN open, SSH and mDNS from the LAN only."""
    lan4 = [n for n in lan if ipaddress.ip_network(n).version == 4]
    lan6 = [n for n in lan if ipaddress.ip_network(n).version == 6]
    if "fe80::/10" not in lan6:
        lan6.append("fe80::/10")
    https = sorted({443, settings.https_port} if settings.redirect_443 else {settings.https_port})
    lo, hi = settings.media_ports
    rules = [
        "ct state established,related accept",
        "ct state invalid drop",
        'iif "lo" accept',
        "meta l4proto icmp accept comment \"ping, unreachable, time exceeded\"",
        "meta l4proto ipv6-icmp accept comment \"IPv6 needs ICMPv6 (neighbour discovery)\"",
        "udp sport 67 udp dport 68 accept comment \"DHCPv4 replies\"",
        "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept comment \"DHCPv6 replies\"",
        f"tcp dport {_set([str(p) for p in https])} accept comment \"fristed HTTPS\"",
        f"udp dport {lo}-{hi} accept comment \"fristed media (WebRTC)\"",
    ]
    if settings.turn:
        rlo, rhi = settings.turn_relay_ports
        rules += [f"meta l4proto {{ tcp, udp }} th dport {settings.turn_port} accept comment \"TURN (coturn)\"",
                  f"udp dport {rlo}-{rhi} accept comment \"TURN relay ports\""]
    if settings.tls == "certbot":
        rules.append("tcp dport 80 accept comment \"certbot HTTP-01 challenge\"")
    if lan4:
        rules.append(f"ip saddr {_set(lan4)} tcp dport 22 accept comment \"SSH from the LAN only\"")
        rules.append(f"ip saddr {_set(lan4)} udp dport 5353 accept comment \"mDNS from the LAN\"")
    rules.append(f"ip6 saddr {_set(lan6)} tcp dport 22 accept comment \"SSH from the LAN only\"")
    rules.append(f"ip6 saddr {_set(lan6)} udp dport 5353 accept comment \"mDNS from the LAN\"")
    body = "\n".join(f"\t\t{rule}" for rule in rules)
    nat = ""
    if settings.redirect_443 and settings.https_port != 443:
        nat = f"""
table inet fristed_nat {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\ttcp dport 443 redirect to :{settings.https_port} comment "citizens open https://name/ without a port"
\t}}
}}
"""
    return f"""#!/usr/sbin/nft -f
# Written by the fristed deploy (deploy/raspberrypi); changes here are overwritten on the next run.
# Everything not accepted below is dropped. SSH is accepted only from: {', '.join(lan4 + lan6)}.
flush ruleset

table inet fristed {{
\tchain input {{
\t\ttype filter hook input priority filter; policy drop;
{body}
\t}}
\tchain forward {{
\t\ttype filter hook forward priority filter; policy drop;
\t}}
\tchain output {{
\t\ttype filter hook output priority filter; policy accept;
\t}}
}}
{nat}"""


# --- TURN -----------------------------------------------------------------------------------------

# IANA special-purpose and private ranges (RFC 6890 and successors): TURN must not relay there.
DENIED_PEERS = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/127", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "2002::/16", "fc00::/7", "fe80::/10", "ff00::/8",
]
SECRET_PLACEHOLDER = "@STATIC_AUTH_SECRET@"


def _range(network: str) -> str:
    net = ipaddress.ip_network(network)
    if net.num_addresses == 1:
        return str(net.network_address)
    return f"{net.network_address}-{net.broadcast_address}"


def turnserver_conf(settings: Settings, node_addresses: list[str], realm: str, *,
                    listening_ips: list[str] | None = None) -> str:
    """coturn's config with the shared secret left as a placeholder (filled in on the box)."""
    if not node_addresses:
        raise SettingsError("TURN needs the node's own address (turn_node_addresses)")
    rlo, rhi = settings.turn_relay_ports
    lines = [
        "# Written by the fristed deploy: coturn as the TURN ingress for remote participants.",
        "# Credentials are short-lived: the node issues username = '<expiry>:<id>' and",
        "# password = base64(HMAC-SHA1(secret, username)) (TURN REST API, use-auth-secret).",
        f"listening-port={settings.turn_port}",
        *[f"listening-ip={ip}" for ip in listening_ips or []],
        f"min-port={rlo}",
        f"max-port={rhi}",
        f"realm={realm}",
        "use-auth-secret",
        f"static-auth-secret={SECRET_PLACEHOLDER}",
        "fingerprint",
        "no-cli",
        "no-tls",
        "no-dtls",
        "no-tcp-relay",
        "no-multicast-peers",
        "no-software-attribute",
        "no-rfc5780",
        "no-stun-backward-compatibility",
        "response-origin-only-with-rfc5780",
        "stale-nonce=600",
        "max-allocate-lifetime=3600",
        "user-quota=12",
        "total-quota=240",
    ]
    if settings.turn_external_ip:
        lines.append(f"external-ip={settings.turn_external_ip}")
    if settings.turn_log:
        lines += ["log-file=stdout", "simple-log"]
    else:
        lines += ["# No logs: coturn would write citizens' IP addresses. Set turn_log = True to debug.",
                  "log-file=/dev/null", "no-stdout-log"]
    lines.append("# Never relay to private or reserved addresses ...")
    lines += [f"denied-peer-ip={_range(n)}" for n in DENIED_PEERS]
    lines.append("# ... except to the node itself, which carries every call's media.")
    lines += [f"allowed-peer-ip={a}" for a in node_addresses]
    return "\n".join(lines) + "\n"


# --- operating system -----------------------------------------------------------------------------

def unattended_upgrades_conf(settings: Settings) -> str:
    return f"""// Written by the fristed deploy: security and stable updates every night, then a reboot
// at {settings.reboot_time} if an update needs one (the drop-in centre is closed then).
Unattended-Upgrade::Origins-Pattern {{
\t"origin=Debian,codename=${{distro_codename}},label=Debian";
\t"origin=Debian,codename=${{distro_codename}}-updates";
\t"origin=Debian,codename=${{distro_codename}}-security,label=Debian-Security";
\t"origin=Debian,codename=${{distro_codename}},label=Debian-Security";
\t"origin=Raspberry Pi Foundation,codename=${{distro_codename}},label=Raspberry Pi Foundation";
}};
Unattended-Upgrade::Automatic-Reboot "true";
Unattended-Upgrade::Automatic-Reboot-WithUsers "true";
Unattended-Upgrade::Automatic-Reboot-Time "{settings.reboot_time}";
Unattended-Upgrade::Remove-Unused-Dependencies "true";
"""


AUTO_UPGRADES = """// Written by the fristed deploy.
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
"""


def upgrade_timer_dropin(settings: Settings) -> str:
    return ("# Written by the fristed deploy: install updates at night, before the reboot window.\n"
            f"[Timer]\nOnCalendar=\nOnCalendar=*-*-* {settings.upgrade_time}\nRandomizedDelaySec=20min\n")


def journald_conf(settings: Settings) -> str:
    return ("# Written by the fristed deploy: logs in RAM only, kept briefly (privacy, and SD card wear).\n"
            f"[Journal]\nStorage=volatile\nRuntimeMaxUse={settings.journal_max_use}\n"
            f"MaxRetentionSec={settings.journal_retention}\nForwardToSyslog=no\n")


WATCHDOG_CONF = """# Written by the fristed deploy: the Raspberry Pi's hardware watchdog (maximum 15 s)
# reboots the box if the kernel or systemd hangs.
[Manager]
RuntimeWatchdogSec=14s
RebootWatchdogSec=2min
"""

SSHD_CONF = """# Written by the fristed deploy: keys only, no root logins.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
"""


def doctor_wrapper(settings: Settings) -> str:
    """``/usr/local/sbin/fristed-doctor``: the node's checks with this box's settings."""
    args = ["--data-dir", DATA_DIR, "--url", f"https://localhost:{settings.https_port}/"]
    if settings.backup_enabled:
        args += ["--backup-dir", settings.backup_target]
    if settings.turn:
        args += ["--turn", f"127.0.0.1:{settings.turn_port}"]
    if settings.external_tls:
        args += ["--cert", f"{TLS_DIR}/fullchain.pem"]
    doctor = f"{VENV}/bin/python -m node.doctor {shlex.join(args)} \"$@\""
    as_user = f"exec runuser -u {SERVICE_USER} -- {doctor}"
    in_unit = f"exec systemd-run --quiet --pipe --wait --collect -p User={SERVICE_USER}"
    if settings.key_custody == "passphrase-credential":
        # The passphrase credential is decrypted for the doctor's store check, as for the node.
        body = f"{in_unit} -p LoadCredentialEncrypted=fristed-passphrase:{CREDENTIAL_FILE} {doctor}"
    elif settings.key_custody == "passphrase-prompt":
        # Once unlocked, the passphrase is in RAM; before that the doctor asks on this terminal.
        body = (f"if [ -f {UNLOCK_FILE} ]; then\n"
                f"  {in_unit} -p LoadCredential=fristed-passphrase:{UNLOCK_FILE} {doctor}\n"
                f"fi\n{as_user}")
    else:
        body = as_user
    return f"""#!/bin/sh
# Written by the fristed deploy: check this node and print plain-language findings.
# Exit status 1 means at least one check failed.
set -eu
[ "$(id -u)" -eq 0 ] || {{ echo "run with sudo: sudo fristed-doctor" >&2; exit 2; }}
cd /
{body}
"""


def admin_wrapper() -> str:
    """``/usr/local/bin/fristed``: run the fristed command as the service user on this box."""
    return f"""#!/bin/sh
# Written by the fristed deploy: `sudo fristed staff add NAME --role admin`, `sudo fristed backup FILE`...
# runs fristed as its service user against this box's data directory.
set -eu
[ "$(id -u)" -eq 0 ] || {{ echo "run with sudo: sudo fristed $*" >&2; exit 2; }}
cd /
exec runuser -u {SERVICE_USER} -- {VENV}/bin/fristed --data-dir {DATA_DIR} "$@"
"""


def certbot_hook() -> str:
    return f"""#!/bin/sh
# Written by the fristed deploy: hand a renewed certificate to the node and restart it.
set -eu
lineage=${{RENEWED_LINEAGE:?run by certbot}}
install -d -m 0750 -o root -g {SERVICE_USER} {TLS_DIR}
install -m 0640 -o root -g {SERVICE_USER} "$lineage/fullchain.pem" {TLS_DIR}/fullchain.pem
install -m 0640 -o root -g {SERVICE_USER} "$lineage/privkey.pem" {TLS_DIR}/privkey.pem
if [ -d /run/systemd/system ]; then systemctl try-restart fristed.service; fi
"""


def lan_networks(ip_addr_output: str) -> list[str]:
    """Networks of the box's global addresses, from ``ip -o addr show scope global``."""
    found: list[str] = []
    for line in ip_addr_output.splitlines():
        parts = line.split()
        for i, word in enumerate(parts):
            if word in ("inet", "inet6") and i + 1 < len(parts):
                try:
                    net = str(ipaddress.ip_interface(parts[i + 1]).network)
                except ValueError:
                    continue
                if net not in found:
                    found.append(net)
    return found


def own_addresses(ip_addr_output: str) -> list[str]:
    """The box's global unicast addresses, from ``ip -o addr show scope global``."""
    found: list[str] = []
    for line in ip_addr_output.splitlines():
        parts = line.split()
        for i, word in enumerate(parts):
            if word in ("inet", "inet6") and i + 1 < len(parts):
                try:
                    addr = ipaddress.ip_interface(parts[i + 1]).ip
                except ValueError:
                    continue
                if not (addr.is_loopback or addr.is_link_local) and str(addr) not in found:
                    found.append(str(addr))
    return found


def address_allowed(address: str, networks: list[str]) -> bool:
    """Whether ``address`` (as in $SSH_CONNECTION, maybe with a %scope) lies in one of ``networks``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True  # not an address we can judge (e.g. a proxy); do not block on it
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    plain = ipaddress.ip_address(str(ip).split("%", 1)[0])
    return any(plain in ipaddress.ip_network(n) for n in networks)
