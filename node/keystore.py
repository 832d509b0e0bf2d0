"""Named, passphrase-encrypted account keys on disk.

DIR/NAME.json holds chain.keys.encrypt_seed's output plus the key's name and address, so `keys
list` can show every key without a passphrase while the seed stays sealed. Files are mode 0600
and written atomically, so a crash never leaves a half-written key.
"""

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from chain.address import key_address
from chain.errors import LocalFault
from chain.keys import (
    KeyFileError,
    KeyPair,
    WrongPassphrase,
    decrypt_seed,
    encrypt_seed,
    generate_keypair,
    keypair_from_seed,
)
from node.config import write_file_atomically

DEVNET_PASSPHRASE = "gridchain-devnet"
"""The documented passphrase of devnet keys: they guard nothing of value."""

KEYSTORE_ENV = "GRIDCHAIN_KEYSTORE"
PASSPHRASE_ENV = "GRIDCHAIN_PASSPHRASE"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeystoreError(LocalFault):
    code = "keystore_error"


class InvalidKeyName(KeystoreError):
    code = "invalid_key_name"


class KeyNotFound(KeystoreError):
    code = "key_not_found"


class KeyExists(KeystoreError):
    code = "key_exists"


class NoPassphrase(KeystoreError):
    code = "no_passphrase"


@dataclass(frozen=True)
class KeyInfo:
    """What anyone may know about a key: no passphrase needed."""

    name: str
    address: str
    public_key: str
    path: Path

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "address": self.address,
            "public_key": self.public_key,
            "path": str(self.path),
        }


def default_keystore_dir() -> Path:
    env = os.environ.get(KEYSTORE_ENV)
    return Path(env) if env else Path.home() / ".gridchain" / "keys"


def check_key_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
        raise InvalidKeyName(
            f"key name {name!r} is invalid: use 1-64 characters of A-Z, a-z, 0-9, '_', '.', '-'"
        )
    return name


class Keystore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{check_key_name(name)}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def check_new(self, name: str) -> Path:
        """The path for a new key NAME; an existing name is refused so no key is overwritten."""
        path = self.path(name)
        if path.exists():
            raise KeyExists(f"key {name!r} already exists at {path}")
        return path

    def new(self, name: str, passphrase: str) -> KeyInfo:
        path = self.check_new(name)
        if not passphrase:
            raise NoPassphrase("refusing to encrypt a key with an empty passphrase")
        key = generate_keypair()
        body = encrypt_seed(key.seed, passphrase)
        body["name"] = name
        body["address"] = str(key_address(key.public_key))
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file_atomically(path, json.dumps(body, indent=2) + "\n", mode=0o600)
        return self.show(name)

    def list(self) -> list[KeyInfo]:
        """Every key, by name; a malformed file is reported rather than skipped."""
        if not self.directory.is_dir():
            return []
        return [
            self.show(path.stem)
            for path in sorted(self.directory.glob("*.json"))
            if NAME_PATTERN.fullmatch(path.stem)
        ]

    def show(self, name: str) -> KeyInfo:
        path, body = self._read(name)
        return KeyInfo(name, body["address"], body["public_key"], path)

    def load(self, name: str, passphrase: str) -> KeyPair:
        """The usable key; a wrong passphrase is a WrongPassphrase naming the key."""
        path, body = self._read(name)
        try:
            seed = decrypt_seed(body, passphrase)
        except WrongPassphrase:
            raise WrongPassphrase(f"wrong passphrase for key {name!r} ({path})") from None
        except KeyFileError as exc:
            raise KeyFileError(f"{path}: {exc.message}") from None
        return keypair_from_seed(seed)

    def _read(self, name: str) -> tuple[Path, dict[str, Any]]:
        path = self.path(name)
        try:
            body = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyNotFound(f"no key named {name!r} in {self.directory}") from None
        except OSError as exc:
            raise KeystoreError(f"cannot read {path}: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"{path} is not a JSON key file: {exc}") from None
        if not isinstance(body, dict):
            raise KeyFileError(f"{path} is not a key file (expected a JSON object)")
        try:
            public_key = bytes.fromhex(body["public_key"])
            address = str(key_address(public_key))
        except (KeyError, TypeError, ValueError):
            raise KeyFileError(f"{path} has no valid public_key") from None
        if body.get("address", address) != address:
            raise KeyFileError(f"{path}: its address does not match its public key")
        body["address"] = address
        return path, body


def read_passphrase(passphrase_file: Path | None, *, confirm: bool = False) -> str:
    """The passphrase from --passphrase-file, else $GRIDCHAIN_PASSPHRASE, else a prompt.

    The prompt goes to stderr so --json output on stdout stays parseable.
    """
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text()
        except OSError as exc:
            raise NoPassphrase(
                f"cannot read passphrase file {passphrase_file}: {exc.strerror}"
            ) from None
        return text.rstrip("\r\n")
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise NoPassphrase(
            f"no passphrase given and no terminal to ask on: use --passphrase-file or set "
            f"{PASSPHRASE_ENV}"
        )
    try:
        passphrase: str = click.prompt(
            "Passphrase", hide_input=True, confirmation_prompt=confirm, err=True
        )
    except click.Abort:
        raise NoPassphrase(
            f"no passphrase given: use --passphrase-file or set {PASSPHRASE_ENV}"
        ) from None
    return passphrase
