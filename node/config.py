"""A node's home folder: where its genesis, keys, settings and database live.

HOME/config/genesis.json        the chain's genesis file
HOME/config/node.json           this node's settings (API address, mempool limits)
HOME/config/validator_key.json  the validator's signing key (mode 0600, as in cometbft)
HOME/data/chain.db/             the LevelDB database
HOME/data/signer_state.json     the last vote this validator signed (double-sign protection)
HOME/data/consensus.wal         the write-ahead log of the height being decided
HOME/data/snapshots/            snapshots of the state served to nodes that join late
HOME/data/light.db/             the light client that verified the snapshot this node began from
"""

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, post_load, validate
from marshmallow import fields as mf

from chain.errors import LocalFault
from chain.genesis_state import GenesisState, genesis_hash
from chain.keys import KeyPair, generate_keypair, keypair_from_seed
from chain.staking.validators import bls_registration
from genesis.schema import load_genesis

DEFAULT_API_PORT = 26657
DEFAULT_P2P_PORT = 26656
MISBEHAVIOURS = ("", "double-prevote")  # test-only faults, for the slashing tests


class ConfigError(LocalFault):
    """A node home's settings, key or genesis file are missing or wrong."""

    code = "bad_config"


class GenesisMismatch(ConfigError):
    """The home already holds chain data of another genesis."""

    code = "genesis_mismatch"


@dataclass(frozen=True)
class NodeConfig:
    api_host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    mempool_max_txs: int = 100_000
    mempool_max_bytes: int = 64 * 1024 * 1024
    verify_workers: int = 2
    max_request_bytes: int = 4 * 1024 * 1024
    p2p_host: str = "127.0.0.1"
    p2p_port: int = DEFAULT_P2P_PORT
    persistent_peers: tuple[str, ...] = ()  # "PUBLICKEYHEX@host:port", always redialed
    full_nodes: tuple[str, ...] = ()  # public keys (hex) of non-validators allowed to connect
    # A snapshot of the state every this many blocks (0: none), the newest `snapshot_keep`
    # kept and served to nodes that join late.
    snapshot_interval: int = 0
    snapshot_keep: int = 2
    # Where an empty node looks for a snapshot to start from (API URLs: the first is its light
    # client's primary, the others witnesses); it starts from one only if its height is at
    # least `state_sync_min_height`, else it replays every block from genesis.
    state_sync_servers: tuple[str, ...] = ()
    state_sync_min_height: int = 1000
    misbehave: str = ""


class NodeConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    api_host = mf.String()
    api_port = mf.Integer(strict=True, validate=validate.Range(0, 65535))
    mempool_max_txs = mf.Integer(strict=True, validate=validate.Range(1, 10_000_000))
    mempool_max_bytes = mf.Integer(strict=True, validate=validate.Range(1024, 2**34))
    verify_workers = mf.Integer(strict=True, validate=validate.Range(0, 64))
    max_request_bytes = mf.Integer(strict=True, validate=validate.Range(1024, 2**30))
    p2p_host = mf.String()
    p2p_port = mf.Integer(strict=True, validate=validate.Range(0, 65535))
    persistent_peers = mf.List(
        mf.String(
            validate=validate.Regexp(
                r"^[0-9a-f]{64}@[^:@\s]+:[0-9]{1,5}$",
                error="peer must be PUBLICKEYHEX@host:port (64 hex digits), got {input}",
            )
        )
    )
    full_nodes = mf.List(
        mf.String(
            validate=validate.Regexp(r"^[0-9a-f]{64}$", error="not a 64-hex-digit public key")
        )
    )
    snapshot_interval = mf.Integer(strict=True, validate=validate.Range(0, 2**40))
    snapshot_keep = mf.Integer(strict=True, validate=validate.Range(1, 100))
    state_sync_servers = mf.List(
        mf.String(
            validate=validate.Regexp(
                r"^https?://[^/\s]+/?$", error="server must be an API URL http://HOST:PORT"
            )
        )
    )
    state_sync_min_height = mf.Integer(strict=True, validate=validate.Range(1, 2**62))
    misbehave = mf.String(validate=validate.OneOf(MISBEHAVIOURS))

    @post_load
    def build(self, data: dict[str, Any], **_: Any) -> NodeConfig:
        for name in ("persistent_peers", "full_nodes", "state_sync_servers"):
            if name in data:
                data[name] = tuple(data[name])
        return NodeConfig(**data)


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def genesis_file(self) -> Path:
        return self.root / "config" / "genesis.json"

    @property
    def config_file(self) -> Path:
        return self.root / "config" / "node.json"

    @property
    def validator_key_file(self) -> Path:
        return self.root / "config" / "validator_key.json"

    @property
    def db_path(self) -> Path:
        return self.root / "data" / "chain.db"

    @property
    def restoring_db_path(self) -> Path:
        """Where a snapshot is restored; renamed to db_path once complete."""
        return self.root / "data" / "chain.db.restoring"

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "data" / "snapshots"

    @property
    def light_db_path(self) -> Path:
        return self.root / "data" / "light.db"

    @property
    def state_sync_file(self) -> Path:
        """What the state sync this home began from did (height, chunks, time), for status."""
        return self.root / "data" / "state-sync.json"

    @property
    def conflict_evidence_file(self) -> Path:
        """Two certified headers of one height met while state-syncing: who signed both."""
        return self.root / "data" / "conflicting-headers.json"

    @property
    def signer_state_file(self) -> Path:
        return self.root / "data" / "signer_state.json"

    @property
    def wal_file(self) -> Path:
        return self.root / "data" / "consensus.wal"

    @property
    def mempool_journal_file(self) -> Path:
        return self.root / "data" / "mempool.wal"

    @property
    def log_file(self) -> Path:
        return self.root / "node.log"

    @property
    def scratch_dir(self) -> Path:
        """Temporary files of the running node (the signature workers' fork-server socket):
        emptied at every start, so a kill -9 leaves nothing behind for good."""
        return self.root / "tmp"

    @property
    def pid_file(self) -> Path:
        return self.root / "node.pid"

    @property
    def upgrade_info_file(self) -> Path:
        """Written by a node that stopped because the chain needs another release: which."""
        return self.root / "data" / "upgrade-info.json"

    @property
    def releases_dir(self) -> Path:
        """The supervisor's releases, one folder per version, and its record of the current."""
        return self.root / "releases"


def load_config(home: Home) -> NodeConfig:
    if not home.config_file.exists():
        return NodeConfig()
    try:
        config: NodeConfig = NodeConfigSchema().load(json.loads(home.config_file.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {home.config_file}: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"{home.config_file}: {exc.normalized_messages()}") from None
    return config


def write_config(home: Home, config: NodeConfig) -> None:
    write_file_atomically(home.config_file, json.dumps(asdict(config), indent=2) + "\n")


def write_validator_key(home: Home, key: KeyPair) -> None:
    body = {"public_key": key.public_key.hex(), "seed": key.seed.hex()}
    write_file_atomically(home.validator_key_file, json.dumps(body, indent=2) + "\n", mode=0o600)


def load_validator_key(home: Home) -> KeyPair:
    path = home.validator_key_file
    try:
        body = json.loads(path.read_text())
        key = keypair_from_seed(bytes.fromhex(body["seed"]))
    except (OSError, json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot load the validator key {path}: {exc}") from None
    if key.public_key.hex() != body.get("public_key"):
        raise ConfigError(f"{path}: public key does not match the seed")
    return key


def write_file_atomically(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    """Write-then-rename with fsync, so a crash leaves the old file or the new one, never half;
    once this returns, the new one is on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(content.encode() if isinstance(content, str) else content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_directory(path.parent)


def fsync_directory(path: Path) -> None:
    """Make the names in a directory durable (a file created or renamed there survives a
    power cut only once its directory is synced too)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


CONFIG_FIELDS = tuple(f.name for f in fields(NodeConfig))


# Making a home


@dataclass(frozen=True)
class InitResult:
    home: Path
    chain_id: str
    genesis_hash: str
    validator: str
    validator_spec: str
    created_key: bool
    in_validator_set: bool
    api_port: int

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "validator": self.validator,
            "validator_spec": self.validator_spec,
            "created_key": self.created_key,
            "in_validator_set": self.in_validator_set,
            "api_port": self.api_port,
        }


def validator_spec(key: KeyPair) -> str:
    """What `genesis new --validator` takes before its :BLOCKSTAKE: the ed25519 key, the BLS
    key and the BLS key's proof of possession, in hex, joined by colons."""
    registration = bls_registration(key)
    return f"{key.public_key.hex()}:{registration.bls_key.hex()}:{registration.proof.hex()}"


def init_home(home: Home, genesis_file: Path | None, api_port: int | None = None) -> InitResult:
    """Prepare a node home; safe to repeat. It never replaces a key, nor the genesis of a chain
    that already has data. Without a genesis file it only makes the key and settings, so the
    validator key can go into a genesis written afterwards."""
    state = None
    if genesis_file is not None:
        state = load_genesis(genesis_file)
        _install_genesis(home, genesis_file, state)
    key, created = _ensure_validator_key(home)
    config = load_config(home)
    if api_port is not None:
        config = replace(config, api_port=api_port)
    write_config(home, config)
    return InitResult(
        home=home.root,
        chain_id="" if state is None else state.chain_id,
        genesis_hash="" if state is None else genesis_hash(state).hex(),
        validator=key.public_key.hex(),
        validator_spec=validator_spec(key),
        created_key=created,
        in_validator_set=state is not None and state.validators.power_of(key.public_key) > 0,
        api_port=config.api_port,
    )


def _install_genesis(home: Home, genesis_file: Path, state: GenesisState) -> None:
    current = load_genesis(home.genesis_file) if home.genesis_file.exists() else None
    if current is not None and genesis_hash(current) == genesis_hash(state):
        return
    if home.db_path.exists():
        raise GenesisMismatch(
            f"{home.root} already holds chain data of a different genesis "
            f"({home.genesis_file}); use a new --home"
        )
    write_file_atomically(home.genesis_file, genesis_file.read_text())


def _ensure_validator_key(home: Home) -> tuple[KeyPair, bool]:
    """The home's validator key, created on first use; never replaced."""
    if home.validator_key_file.exists():
        return load_validator_key(home), False
    key = generate_keypair()
    write_validator_key(home, key)
    return key, True
