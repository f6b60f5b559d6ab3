"""Where a passphrase comes from: environment, credential file, systemd-ask-password or a prompt."""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path

from crypto.storekey import KeyFileError, PassphraseSource

ENV = "FRISTED_PASSPHRASE"
NEW_ENV = "FRISTED_NEW_PASSPHRASE"
CREDENTIAL = "fristed-passphrase"
MIN_LENGTH = 10


def _from_file(path: Path) -> str:
    text = path.read_text(encoding="utf-8").rstrip("\r\n")
    if not text:
        raise KeyFileError(f"{path} is empty")
    return text


def unlock_source(passphrase_file: Path | None = None, prompt: str = "Passphrase for the store key: ",
                  env: str = ENV, credential: bool = True) -> PassphraseSource:
    """A source for an existing passphrase, tried in a fixed order when asked."""

    def source() -> str:
        if os.environ.get(env):
            return os.environ[env]
        if passphrase_file is not None:
            return _from_file(passphrase_file)
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY") if credential else None
        if cred_dir and (Path(cred_dir) / CREDENTIAL).exists():
            return _from_file(Path(cred_dir) / CREDENTIAL)
        if sys.stdin.isatty():
            return getpass.getpass(prompt)
        ask = shutil.which("systemd-ask-password")
        if ask and os.environ.get("INVOCATION_ID"):
            out = subprocess.run([ask, "--timeout=0", prompt], capture_output=True, text=True, check=False)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.rstrip("\n")
        raise KeyFileError(f"a passphrase is needed: set {ENV}, give --passphrase-file, "
                           "or run on a terminal")

    return source


def new_passphrase(env: str = NEW_ENV, what: str = "new passphrase") -> str:
    """Ask for a new passphrase twice (or take it from ``env``) and check its length."""
    value = os.environ.get(env)
    if value is None:
        if not sys.stdin.isatty():
            raise KeyFileError(f"set {env} or run on a terminal to choose a {what}")
        value = getpass.getpass(f"Choose a {what} (at least {MIN_LENGTH} characters): ")
        if getpass.getpass("Type it again: ") != value:
            raise KeyFileError("the two passphrases differ")
    if len(value) < MIN_LENGTH:
        raise KeyFileError(f"a {what} needs at least {MIN_LENGTH} characters")
    return value
