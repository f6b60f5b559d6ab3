"""The entry point ``fristed console [URL]`` calls: :func:`run_console`, and :func:`main` for argv."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from tui.pinning import KnownNodes, PinStoreError, node_key


def run_console(url: str | None = None, *, fingerprint: str | None = None, known_nodes: Path | None = None,
                alert_repeat: float = 20.0) -> int:
    """Run the console until the user quits; returns the exit status."""
    from tui.app import ConsoleApp  # Textual is imported only when the console really runs

    app = ConsoleApp(url, pins=KnownNodes(known_nodes) if known_nodes else None, alert_repeat=alert_repeat,
                     expected_fingerprint=fingerprint)
    result = app.run()
    return int(result or 0)


def forget(target: str, known_nodes: Path | None = None) -> int:
    """Remove a pin after IT has confirmed the node's new fingerprint."""
    pins = KnownNodes(known_nodes) if known_nodes else KnownNodes()
    key = node_key(target)
    try:
        removed = pins.forget(key)
    except PinStoreError as exc:
        print(f"fristed console: {exc}")
        return 2
    if removed:
        print(f"Den gamle nøgle for {key} er fjernet. Næste login husker det nye fingeraftryk.")
        return 0
    print(f"Ingen husket nøgle for {key} i {pins.path}.")
    return 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The console's options, shared by ``fristed console`` and ``python -m tui``."""
    parser.add_argument("url", nargs="?", help="the node, e.g. https://fristed.local:8443 (default: search the LAN)")
    parser.add_argument("--fingerprint", help="expected SHA-256 fingerprint of the node's CA (from IT)")
    parser.add_argument("--forget", metavar="HOST:PORT", help="remove a pinned fingerprint, then exit")
    parser.add_argument("--known-nodes", type=Path, help="pin file (default $XDG_CONFIG_HOME/fristed/known_nodes.json)")
    parser.add_argument("--alert-repeat", type=float, default=20.0, help="seconds between repeated alerts")


def run_from_args(args: argparse.Namespace) -> int:
    if args.forget:
        return forget(args.forget, args.known_nodes)
    return run_console(args.url, fingerprint=args.fingerprint, known_nodes=args.known_nodes,
                       alert_repeat=args.alert_repeat)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fristed console", description="The fristed console for staff.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
