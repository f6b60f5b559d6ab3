"""The `fristed` command line: serve, staff, audit, backup, restore, rekey."""
from __future__ import annotations

import argparse
import os
import asyncio
import json
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import segno

from crypto.backup import BackupError
from crypto.storekey import KeyFileError, read_key_file
from node import __version__, accounts, audit, centre, doctor, logs
from node.accounts import AccountError
from node.backup import restore_backup, write_backup
from node.config import NodeConfig
from node.datadir import DataDir, DataDirError, default_data_dir
from node.passphrase import new_passphrase, unlock_source
from node.rekey import rekey
from node.store import StoreError, connect, migrate, transaction
from node.validation import InvalidInput


class CliError(Exception):
    """A plain-language reason to stop."""


def _data(args: argparse.Namespace) -> DataDir:
    return DataDir(Path(args.data_dir).expanduser())


def _open(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    data = _data(args)
    key = data.load_key(unlock_source(args.passphrase_file))
    conn = connect(data.database(key), key.key)
    migrate(conn)
    return data, key, conn


def cmd_serve(args: argparse.Namespace) -> int:
    from media.selector import new_event_loop  # imported late: the other commands need no web server
    from node.server import serve

    logs.setup(args.log_level)
    config = NodeConfig(data_dir=Path(args.data_dir).expanduser(), host=args.host, port=args.port,
                        http=args.http, cert=args.cert, key=args.key, node_name=args.name,
                        zeroconf=not args.no_zeroconf, extra_origins=args.origin or [])
    from media.ports import check_address, parse_range  # plain parsing, no aiortc

    try:
        config.media_ports = parse_range(args.media_ports) if args.media_ports else None
        config.public_address = check_address(args.public_address) if args.public_address else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if bool(args.cert) != bool(args.key):
        raise CliError("--cert and --key go together")
    data = DataDir(config.data_dir)
    passphrase = unlock_source(args.passphrase_file)
    if not data.initialised() and args.key_custody == "passphrase":
        chosen = new_passphrase()
        passphrase = lambda: chosen  # noqa: E731
    elif not data.initialised():
        passphrase = None  # type: ignore[assignment]
    with asyncio.Runner(loop_factory=new_event_loop) as runner:  # media.selector: media read in C
        runner.run(serve(config, passphrase, announce=lambda line: print(line, flush=True)))
    return 0


def _enrol_link(args: argparse.Namespace, code: str) -> str:
    announced = _data(args).url_file
    base = args.url or (announced.read_text(encoding="utf-8").strip() if announced.exists() else "") \
        or f"https://{socket.gethostname()}.local:8443"
    return f"{base.rstrip('/')}/staff/enrol#code={code}"


def _print_code(args: argparse.Namespace, name: str, code: str) -> None:
    link = _enrol_link(args, code)
    print(f"One-time enrolment code for {name} (valid 72 hours):\n  {code}\nOr open:\n  {link}")
    if sys.stdout.isatty():
        segno.make(link, error="m").terminal(compact=True)


def cmd_staff(args: argparse.Namespace) -> int:
    data, _key, conn = _open(args)
    try:
        now = time.time()
        if args.action == "add":
            code = transaction(conn, accounts.add, args.name, args.role, now)
            _print_code(args, args.name, code)
        elif args.action == "reset":
            code = transaction(conn, accounts.reset, args.name, now)
            _print_code(args, args.name, code)
        elif args.action == "disable":
            transaction(conn, accounts.disable, args.name, now)
            print(f"{args.name} is disabled and logged out everywhere.")
        else:
            rows = accounts.list_all(conn)
            if not rows:
                print("No staff accounts yet. Add one with: fristed staff add NAME --role admin")
            for account in rows:
                print(f"{account.name:<32} {account.role:<10} {account.state}")
    finally:
        conn.close()
    return 0


def cmd_centre(args: argparse.Namespace) -> int:
    """Show or change the centre's topics, canned replies, emergency numbers, hours and retention."""
    _data_dir, _key, conn = _open(args)
    try:
        if args.action == "set":
            try:
                body = json.loads(Path(args.file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CliError(f"cannot read {args.file} as JSON: {exc}") from None
            if not isinstance(body, dict):
                raise CliError("the file must hold a JSON object, e.g. {\"retention_days\": 14}")
            try:
                new = centre.validated(body, centre.load(conn))
            except InvalidInput as exc:
                raise CliError(exc.reason) from None
            transaction(conn, centre.save, new)
            print("Saved. A running node picks the new settings up within a minute.")
        print(json.dumps(centre.load(conn).to_json(), ensure_ascii=False, indent=2))
    finally:
        conn.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    _data_dir, _key, conn = _open(args)
    try:
        entries = audit.entries_for(conn, args.subject)
    finally:
        conn.close()
    for entry in entries:
        if args.json:
            print(json.dumps(entry.to_json(), ensure_ascii=False))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.ts))
            obj = f" {entry.object_type}:{entry.object_id}" if entry.object_id else ""
            print(f"{when}  {entry.actor:<24} {entry.action}{obj}")
    if not entries and not args.json:
        print(f"No audit entries for {args.subject!r}.")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    data = _data(args)
    key = data.load_key(unlock_source(args.passphrase_file))
    passphrase = new_passphrase("FRISTED_BACKUP_PASSPHRASE", "backup passphrase") if args.passphrase else None
    version = write_backup(data, key, Path(args.file), passphrase)
    print(f"Encrypted backup written to {args.file} (schema {version}).")
    if passphrase is None:
        print("It opens with this node's key file; keep a copy of store.key apart from the backups.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    data = _data(args)
    old_key = read_key_file(Path(args.key_file), unlock_source(None, "Passphrase of the old key file: ")) \
        if args.key_file else None
    passphrase = None
    if old_key is None:
        passphrase = unlock_source(None, "Backup passphrase: ", env="FRISTED_BACKUP_PASSPHRASE", credential=False)()
    new = new_passphrase() if args.key_custody == "passphrase" else None
    version = restore_backup(data, Path(args.file), old_key=old_key, passphrase=passphrase, new_passphrase=new)
    print(f"Restored schema {version} into {data.root} under a new store key. Start the node with "
          f"`fristed --data-dir {data.root} serve`.")
    return 0


def cmd_rekey(args: argparse.Namespace) -> int:
    data = _data(args)
    current = data.load_key(unlock_source(args.passphrase_file))
    custody = args.key_custody or current.custody
    new = new_passphrase() if custody == "passphrase" else None
    result = rekey(data, current, new)
    print(f"The store has a new key ({result.custody} custody). Old backups still open with the old key file "
          "or their passphrase.")
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    from tui.console import run_from_args  # Textual is imported only when the console runs

    return run_from_args(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fristed", description="A self-hosted, encrypted peer-support node.")
    p.add_argument("--version", action="version", version=f"fristed {__version__}")
    p.add_argument("--data-dir", default=str(default_data_dir()), help="data directory (default: %(default)s)")
    p.add_argument("--passphrase-file", type=Path, help="file holding the store passphrase")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the node")
    s.add_argument("--host", default="0.0.0.0")
    s.add_argument("--port", type=int, default=8443)
    s.add_argument("--http", action="store_true", help="plain HTTP (localhost or behind a reverse proxy)")
    s.add_argument("--cert", type=Path, help="certificate chain from elsewhere (e.g. certbot)")
    s.add_argument("--key", type=Path, help="private key for --cert")
    s.add_argument("--name", default=socket.gethostname(), help="node name shown to consoles")
    s.add_argument("--no-zeroconf", action="store_true", help="do not advertise on the local network")
    s.add_argument("--origin", action="append", help="another origin allowed to call the API")
    s.add_argument("--key-custody", choices=("file", "passphrase"), default="file",
                   help="on first start: keep the key in a file, or wrap it with a passphrase")
    s.add_argument("--media-ports", metavar="LOW-HIGH", default=os.environ.get("FRISTED_MEDIA_PORTS") or None,
                   help="UDP ports for media, e.g. 40000-40999 (default: $FRISTED_MEDIA_PORTS, else any)")
    s.add_argument("--public-address", metavar="IP",
                   help="public address that forwards the media ports 1:1 to this node, also advertised")
    s.add_argument("--log-level", default="INFO")
    s.set_defaults(func=cmd_serve)

    st = sub.add_parser("staff", help="manage staff accounts")
    ss = st.add_subparsers(dest="action", required=True)
    a = ss.add_parser("add", help="add an account and print its enrolment code")
    a.add_argument("name")
    a.add_argument("--role", choices=accounts.ROLES, required=True)
    a.add_argument("--url", help="base URL for the enrolment link")
    ss.add_parser("list", help="list accounts")
    d = ss.add_parser("disable", help="disable an account and end its sessions")
    d.add_argument("name")
    r = ss.add_parser("reset", help="clear password and TOTP and issue a new enrolment code")
    r.add_argument("name")
    r.add_argument("--url", help="base URL for the enrolment link")
    st.set_defaults(func=cmd_staff)

    ce = sub.add_parser("centre", help="show or change topics, canned replies, emergency numbers, hours, retention")
    cs = ce.add_subparsers(dest="action", required=True)
    cs.add_parser("show", help="print the settings as JSON")
    cset = cs.add_parser("set", help="change settings from a JSON file (only the keys it holds)")
    cset.add_argument("file")
    ce.set_defaults(func=cmd_centre)

    au = sub.add_parser("audit", help="audit entries by or about one staff member or citizen pseudonym")
    au.add_argument("--subject", required=True)
    au.add_argument("--json", action="store_true", help="one JSON object per line")
    au.set_defaults(func=cmd_audit)

    b = sub.add_parser("backup", help="write an encrypted, consistent backup while the node runs")
    b.add_argument("file")
    b.add_argument("--passphrase", action="store_true",
                   help="also let a passphrase open it (FRISTED_BACKUP_PASSPHRASE or a prompt)")
    b.set_defaults(func=cmd_backup)

    rs = sub.add_parser("restore", help="restore a backup into an empty data directory")
    rs.add_argument("file")
    rs.add_argument("--key-file", help="the store.key of the node the backup came from")
    rs.add_argument("--key-custody", choices=("file", "passphrase"), default="file")
    rs.set_defaults(func=cmd_restore)

    rk = sub.add_parser("rekey", help="give the store a new key (stop the node first)")
    rk.add_argument("--key-custody", choices=("file", "passphrase"))
    rk.set_defaults(func=cmd_rekey)

    c = sub.add_parser("console", help="the staff console: find a node on the LAN, pin it, log in")
    c.add_argument("url", nargs="?", help="the node, e.g. https://fristed.local:8443 (default: search the LAN)")
    c.add_argument("--fingerprint", help="expected SHA-256 fingerprint of the node's CA (from IT)")
    c.add_argument("--forget", metavar="HOST:PORT", help="remove a pinned fingerprint after IT confirmed the new one")
    c.add_argument("--known-nodes", type=Path, help="pin file (default: $XDG_CONFIG_HOME/fristed/known_nodes.json)")
    c.add_argument("--alert-repeat", type=float, default=20.0, help="seconds between repeated alerts")
    c.set_defaults(func=cmd_console)

    dr = sub.add_parser("doctor", help="check this node and print plain-language findings")
    doctor.add_arguments(dr)
    dr.set_defaults(func=doctor.main)
    return p


HANDLED: tuple[type[BaseException], ...] = (CliError, KeyFileError, DataDirError, AccountError, BackupError,
                                            StoreError)


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # every file the node writes is private to its user
    args = parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except HANDLED as exc:
        print(f"fristed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
