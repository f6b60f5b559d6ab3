"""Settings for every fristed node in the inventory. Per-node values go beside the node in inventory.py.

Each name here is a field of fristed_deploy.Settings; leave a line out to take the default shown.
"""

# --- which fristed to install -----------------------------------------------------------------
# The release to install, relative to this directory or absolute. For a Raspberry Pi, the source
# archive (python3 -m pip install build && python3 -m build --sdist): the box then builds fristed's
# C packet path itself (the deploy installs gcc and python3-dev for it). A wheel from
# `python3 -m pip wheel --no-deps -w dist .` only fits boxes of the same kind as the machine that
# built it. Leave it None to install fristed_version from PyPI.
fristed_wheel = None
fristed_version = "0.1.0"
# A directory of dependency wheels for the box's platform, to install without internet access:
#   pip download -d wheelhouse --only-binary=:all: --platform manylinux_2_28_aarch64 \
#       --python-version 3.11 -r requirements.txt   (and setuptools wheel, to build a source archive)
fristed_wheelhouse = None
# A hash-pinned requirements file (pip-compile --generate-hashes); recommended with a wheelhouse.
fristed_requirements = None
keep_releases = 3  # releases kept on the box for rollback

# --- names and HTTPS --------------------------------------------------------------------------
public_name = None  # the DNS name citizens open, e.g. "fristed-vesterbro.kommune.dk"
https_port = 8443
redirect_443 = True  # https://name/ (443) reaches the node on https_port
tls = "local-ca"  # "local-ca" (the node's own CA), "certbot" (HTTP-01), or "files" (from municipal IT)
certbot_email = None
tls_cert_file = None  # tls = "files": the chain and key on this computer, uploaded to /etc/fristed/tls
tls_key_file = None

# --- network ----------------------------------------------------------------------------------
# Networks that may reach SSH (and mDNS). Default: the networks the box itself sits on. Add the IT
# department's network or VPN here, or the deploy stops before the firewall could shut you out.
ssh_allow = []
media_ports = [40000, 40999]  # UDP ports for WebRTC media
advertise = "avahi"  # "avahi" (recommended on Raspberry Pi OS), "zeroconf", or "none"

# --- storage, backups and the store key --------------------------------------------------------
data_disk = None  # mount point of a USB SSD, e.g. "/srv/fristed-disk"; None keeps data on the SD card
backup_enabled = True
backup_target = "/var/backups/fristed"  # a directory per node; better on another disk or a share
backup_keep = 14
backup_time = "*-*-* 01:30"
key_custody = "file"  # "file", "passphrase-prompt" or "passphrase-credential" (README: Key custody)

# --- TURN relay for people outside the centre's network ------------------------------------------
turn = False
turn_port = 3478
turn_relay_ports = [49160, 49400]
turn_external_ip = None  # the centre's public address, when the box sits behind the router's NAT
turn_log = False  # coturn logs client addresses; keep it off except while debugging

# --- operating system -------------------------------------------------------------------------
unattended_upgrades = True
upgrade_time = "02:30"
reboot_time = "03:30"  # only when an update needs a reboot
journal_retention = "7day"
journal_max_use = "64M"
hardware_watchdog = True
harden_ssh = True
admin_user = "itadmin"
apt_update = True
