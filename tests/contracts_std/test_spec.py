"""Workload specs validated at the edge, signature requirements, and contract transactions'
canonical bytes."""

import copy
from pathlib import Path
from typing import Any

import pytest

from chain.address import AddressType, contract_address, key_address, named_contract_address
from chain.deployment.spec import Health, decode_spec
from chain.encoding import decode
from chain.errors import EncodingError, InvalidSpec, InvalidTransaction
from chain.keys import generate_keypair
from chain.ledger.transactions import (
    Call,
    Deploy,
    TxBody,
    check_shape,
    decode_tx,
    sign_tx,
    tx_to_json,
)
from contracts_std.requirement import (
    InvalidRequirement,
    RequiredSigner,
    decode_requirement,
    encode_requirement,
    is_met,
    make_requirement,
)
from contracts_std.spec import load_spec, load_spec_file, spec_bytes, spec_hash

SPEC: dict[str, Any] = {
    "name": "web",
    "description": "a web server behind a gateway",
    "workloads": [
        {"type": "disk", "name": "data", "size_gb": 10},
        {"type": "network", "name": "net", "ip_range": "10.1.0.0/16", "subnet": "10.1.3.0/24"},
        {"type": "public_ip", "name": "ip"},
        {
            "type": "vm",
            "name": "web1",
            "image": "https://hub.example/ubuntu-22.04.flist",
            "cpu": 2,
            "memory_mb": 2048,
            "mounts": [{"disk": "data", "mountpoint": "/data"}],
            "interfaces": [{"network": "net", "ip": "10.1.3.2"}],
            "public_ip": "ip",
            "ports": [80, 443],
        },
        {
            "type": "gateway_name",
            "name": "gw",
            "subdomain": "myapp",
            "backends": ["http://10.1.3.2:80"],
        },
    ],
    "placement": {"countries": ["NL", "BE"], "replicas": 2},
    "budget": 1_000_000,
}


def spec_with(path: list[Any], value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    target = spec
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return spec


def test_a_valid_spec_gets_defaults_and_canonical_bytes() -> None:
    spec = load_spec(SPEC)
    assert spec["expiry_blocks"] == 1000
    assert spec["placement"] == {
        "countries": ["BE", "NL"],  # sorted: one spec, one set of bytes
        "farms": [],
        "nodes": [],
        "near": {},
        "replicas": 2,
        "spread": "node",
    }
    assert spec["workloads"][3]["entrypoint"] == ""
    data = spec_bytes(spec)
    assert decode(data) == spec
    # Key order of the JSON does not matter: the bytes are canonical.
    reordered = dict(reversed(list(SPEC.items())))
    assert spec_bytes(load_spec(reordered)) == data
    assert spec_hash(spec) == spec_hash(load_spec(reordered))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["workloads", 3, "cpu"], 0, "workloads.3.cpu"),
        (["workloads", 3, "cpu"], 1.5, "Not a valid integer"),
        (["workloads", 3, "mounts", 0, "disk"], "nope", "mount names 'nope', which is not a disk"),
        (["workloads", 3, "interfaces", 0, "ip"], "10.2.0.1", "outside subnet 10.1.3.0/24"),
        (["workloads", 3, "public_ip"], "data", "which is not a public ip"),
        (["workloads", 3, "ports"], [80, 80], "ports must not repeat"),
        (["workloads", 1, "subnet"], "10.2.0.0/24", "subnet is not inside ip_range"),
        (["workloads", 1, "ip_range"], "10.1.0.1/16", "not a network in CIDR form"),
        (["workloads", 0, "type"], "floppy", "type must be one of"),
        (["workloads", 4, "backends"], [], "workloads.4.backends"),
        (["placement", "countries"], ["Belgium"], "placement.countries"),
        (["placement", "near"], {"latitude": 0, "longitude": 0}, "placement.near.radius_km"),
        (["placement", "spread"], "rack", "placement.spread"),
        (["workloads", 4, "backends"], ["web1"], "workloads.4.backends"),
        (["placement", "replicas"], 0, "placement.replicas"),
        (["budget"], -1, "budget"),
        (["colour"], "blue", "colour: Unknown field"),
    ],
)
def test_a_bad_spec_names_what_is_wrong(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        load_spec(spec_with(path, value))
    assert message in info.value.message


def test_workload_names_must_be_unique() -> None:
    spec = copy.deepcopy(SPEC)
    spec["workloads"][2]["name"] = "data"
    with pytest.raises(InvalidSpec, match="workload names must be unique"):
        load_spec(spec)


def test_requirement_round_trip_and_rule() -> None:
    a, b, c = (generate_keypair().public_key for _ in range(3))
    req = make_requirement(
        [RequiredSigner(a, 2, True), RequiredSigner(b, 1), RequiredSigner(c, 1)], 3
    )
    data = encode_requirement(req)
    assert len(data) == 4 + 3 * 37
    assert decode_requirement(data) == req
    assert [s.public_key for s in req.signers] == sorted([a, b, c])
    assert not is_met(req, {a})  # weight 2 < 3
    assert not is_met(req, {b, c})  # a is required
    assert is_met(req, {a, b})
    assert is_met(req, {a, c})


@pytest.mark.parametrize(
    ("threshold", "duplicate", "message"),
    [(0, False, "threshold 0"), (5, False, "threshold 5"), (1, True, "appears twice")],
)
def test_bad_requirements_are_refused(threshold: int, duplicate: bool, message: str) -> None:
    a, b = generate_keypair().public_key, generate_keypair().public_key
    signers = [RequiredSigner(a, 2), RequiredSigner(a if duplicate else b, 1)]
    with pytest.raises(InvalidRequirement, match=message):
        make_requirement(signers, threshold)


def test_contract_transactions_round_trip() -> None:
    key = generate_keypair()
    sender = key_address(key.public_key)
    contract = named_contract_address("workload")
    assert contract.type == AddressType.CONTRACT
    call = Call(contract, "submit", (b"\x01\x02", "text", 2**62, True, -5), 7, 100_000)
    tx = sign_tx(TxBody("test", sender, 0, 100_001, call), [key])
    again = decode_tx(tx.encoded)
    assert again == tx and again.id == tx.id
    assert tx.spend == 7 + 100_001
    view = tx_to_json(tx)["payload"]
    assert view["args"] == [{"hex": "0102"}, "text", 2**62, True, -5]
    deploy = sign_tx(TxBody("test", sender, 1, 10, Deploy(b"code", 5)), [key])
    assert decode_tx(deploy.encoded).body.payload == Deploy(b"code", 5)
    assert contract_address(sender, 1) != contract_address(sender, 2)


def test_call_to_a_non_contract_address_is_refused() -> None:
    key = generate_keypair()
    sender = key_address(key.public_key)
    tx = sign_tx(TxBody("test", sender, 0, 10, Call(sender, "f", (), 0, 5)), [key])
    with pytest.raises(InvalidTransaction, match="is not a contract address"):
        check_shape(tx)


def test_oversized_call_arguments_are_refused() -> None:
    key = generate_keypair()
    sender = key_address(key.public_key)
    call = Call(named_contract_address("x"), "f", (b"x" * 9000,), 0, 5)
    tx = sign_tx(TxBody("test", sender, 0, 10, call), [key])
    with pytest.raises(EncodingError, match="argument 0"):
        decode_tx(tx.encoded)


@pytest.mark.parametrize(
    ("image", "image_url", "message"),
    [
        ("ubuntu", "", "image must be 'host' or 'sha256:'"),
        ("sha256:" + "ab" * 32, "", r"needs an http\(s\) image_url"),
        ("sha256:" + "AB" * 32, "https://x.example/r.tar", "64 lower-case hex digits"),
        ("host", "https://x.example/r.tar", "image_url must be empty"),
    ],
)
def test_a_container_runs_the_host_system_or_a_hashed_archive(
    image: str, image_url: str, message: str
) -> None:
    workload = {"type": "container", "name": "c", "image": image, "image_url": image_url}
    document = {"name": "c", "workloads": [workload | {"cpu": 1, "memory_mb": 64}], "budget": 1}
    with pytest.raises(InvalidSpec, match=message):
        load_spec(document)
    good = workload | {"image": "sha256:" + "ab" * 32, "image_url": "https://x.example/r.tar"}
    loaded = load_spec({**document, "workloads": [good | {"cpu": 1, "memory_mb": 64}]})
    assert decode_spec(spec_bytes(loaded)).compute[0].name == "c"  # the chain reads it too


@pytest.mark.parametrize("name", ["workload-spec.json", "web.json"])
def test_the_documented_examples_load_and_the_chain_reads_them(name: str) -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / name
    spec = load_spec_file(path)
    assert decode_spec(spec_bytes(spec)).name == spec["name"]


def container(**fields: Any) -> dict[str, Any]:
    workload = {"type": "container", "name": "c", "image": "host", "cpu": 1, "memory_mb": 64}
    return {"name": "c", "workloads": [workload | {"ports": [8080]} | fields], "budget": 1}


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        ({}, None),
        ({"port": 8080}, Health(8080, "")),  # a TCP connect
        ({"port": 8080, "path": "/healthz?deep=1"}, Health(8080, "/healthz?deep=1")),
    ],
)
def test_a_health_check_is_optional_and_the_chain_reads_it(
    health: dict[str, Any], expected: Health | None
) -> None:
    loaded = load_spec(container(health=health))
    assert loaded["workloads"][0]["health"] == (
        {} if expected is None else health | {"path": expected.path}
    )
    assert decode_spec(spec_bytes(loaded)).compute[0].health == expected
    # No field at all is the same spec as `{}`: the edge fills it in, one set of bytes.
    assert spec_bytes(load_spec(container())) == spec_bytes(load_spec(container(health={})))


@pytest.mark.parametrize(
    ("health", "message"),
    [
        ({"port": 9090}, "workloads.0.health: port 9090 is not one of the workload's ports"),
        ({"path": "/"}, "workloads.0.health.port: Missing data"),
        ({"port": 8080, "path": "healthz"}, "workloads.0.health.path: must be empty"),
        ({"port": 8080, "path": "/a b"}, "workloads.0.health.path: must be empty"),
        ({"port": 8080, "path": "/" + "a" * 256}, "workloads.0.health.path: must be empty"),
        ({"port": 8080, "timeout": 3}, "workloads.0.health.timeout: Unknown field"),
        ({"port": "8080"}, "workloads.0.health.port: Not a valid integer"),
    ],
)
def test_a_bad_health_check_names_the_field(health: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec) as info:
        load_spec(container(health=health))
    assert message in info.value.message


@pytest.mark.parametrize(
    ("health", "message"),
    [
        ({"port": 9090, "path": ""}, "c: health.port 9090 is not one of its ports [8080]"),
        ({"port": 8080}, "c.health must have fields ['path', 'port']"),
        ({"port": 8080, "path": "x"}, "c: health.path must be empty (a TCP check) or an HTTP"),
        ({"port": 8080, "path": "/\n"}, "c: health.path must be empty"),
        ({"port": 0, "path": ""}, "c.health.port 0 is outside 1..65535"),
        ([], "c.health must be a map"),
    ],
)
def test_the_chain_refuses_a_bad_health_check_the_edge_did_not_see(
    health: Any, message: str
) -> None:
    raw = load_spec(container())
    raw["workloads"][0]["health"] = health
    with pytest.raises(InvalidSpec) as info:
        decode_spec(spec_bytes(raw))
    assert message in info.value.message
