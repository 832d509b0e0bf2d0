"""A workload spec as the chain reads it: what to place, where it may go, what it reserves.

Customers write specs as JSON, validated at the edge (contracts_std/spec.py, with friendly
field errors) and stored as canonical bytes. The chain decodes those bytes again here, with no
trust in the edge: it reads every field a rule depends on, each checked by type and range, and
refuses a spec it could not place or run (InvalidSpec). The JSON schema and this decoder agree
by construction: load_spec decodes every spec it accepts with this decoder, and
tests/contracts_std/test_spec.py feeds it what the edge would refuse.
"""

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from chain.deployment.geo import MAX_RADIUS_KM
from chain.encoding import (
    decode,
    expect_bool,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
)
from chain.errors import EncodingError, InvalidSpec

MAX_SPEC_BYTES = 8192
MAX_WORKLOADS = 32
MAX_REPLICAS = 64  # of one compute workload
MAX_PLACED = 64  # replicas of all compute workloads of one spec together
MAX_CHOICES = 16  # countries, farms or pinned nodes a placement may list
MAX_MICRO_LATITUDE = 90_000_000
MAX_MICRO_LONGITUDE = 180_000_000

COMPUTE_TYPES = ("container", "vm")
SPREADS = ("node", "farm", "country")  # replicas are always on distinct nodes


@dataclass(frozen=True)
class Need:
    """What one replica reserves on its node."""

    cores: int
    memory_mb: int
    ssd_gb: int
    hdd_gb: int


@dataclass(frozen=True)
class Health:
    """How a replica's node checks that it serves: a TCP connect to `port` (`path` "") or an
    HTTP GET of `path` on it that must answer 2xx or 3xx. `port` is one of the workload's
    ports. A replica failing it is restarted by its node like one that crashed."""

    port: int
    path: str = ""


@dataclass(frozen=True)
class Compute:
    """A container or vm: each of its replicas is placed on its own node."""

    name: str
    type: str
    need: Need
    ports: tuple[int, ...]
    ipv4: bool = False  # it has a public IPv4 address (billed per replica)
    health: Health | None = None  # None: no check beyond the replica running


@dataclass(frozen=True)
class GatewayName:
    """<subdomain>.<a gateway's domain> in front of backends: URLs, or `name:port` of a
    compute workload of the same spec (routed to wherever its replicas run now)."""

    name: str
    subdomain: str
    backends: tuple[str, ...]


@dataclass(frozen=True)
class Circle:
    latitude: int  # micro-degrees
    longitude: int
    radius_km: int


@dataclass(frozen=True)
class Constraints:
    """Where replicas may go. Empty tuples mean anywhere."""

    countries: tuple[str, ...] = ()
    farms: tuple[int, ...] = ()
    nodes: tuple[int, ...] = ()
    near: Circle | None = None
    replicas: int = 1
    spread: str = "node"


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    compute: tuple[Compute, ...]
    gateways: tuple[GatewayName, ...]
    constraints: Constraints
    budget: int
    expiry_blocks: int

    @property
    def replica_count(self) -> int:
        return len(self.compute) * self.constraints.replicas


def decode_spec(data: bytes) -> DeploymentSpec:
    """The spec in canonical bytes, or InvalidSpec naming what is wrong."""
    if len(data) > MAX_SPEC_BYTES:
        raise InvalidSpec(f"spec is {len(data)} bytes; the limit is {MAX_SPEC_BYTES}")
    try:
        return spec_from_value(decode(data))
    except EncodingError as exc:
        raise InvalidSpec(f"spec: {exc.message}") from None


def spec_from_value(value: Any) -> DeploymentSpec:
    f = expect_map(
        value,
        "spec",
        ("name", "description", "workloads", "placement", "budget", "expiry_blocks"),
    )
    items = expect_list(f["workloads"], "workloads", MAX_WORKLOADS)
    if not items:
        raise InvalidSpec("a spec needs at least one workload")
    kinds = {_name(w): _type(w) for w in items}
    if len(kinds) != len(items):
        raise InvalidSpec("workload names must be unique")
    disks = {w["name"]: w for w in items if kinds[w["name"]] == "disk"}
    compute = tuple(_compute(w, disks) for w in items if kinds[w["name"]] in COMPUTE_TYPES)
    gateways = tuple(_gateway(w, kinds) for w in items if kinds[w["name"]] == "gateway_name")
    constraints = _constraints(f["placement"])
    spec = DeploymentSpec(
        name=expect_text(f["name"], "name", 32),
        compute=compute,
        gateways=gateways,
        constraints=constraints,
        budget=expect_int(f["budget"], "budget", 0, 2**63 - 1),
        expiry_blocks=expect_int(f["expiry_blocks"], "expiry_blocks", 1, 10**7),
    )
    if spec.replica_count > MAX_PLACED:
        raise InvalidSpec(f"spec asks for {spec.replica_count} replicas; at most {MAX_PLACED}")
    return spec


def _name(w: Any) -> str:
    if not isinstance(w, dict):
        raise InvalidSpec("a workload must be a map")
    return expect_text(w.get("name"), "workload name", 32)


def _type(w: dict[str, Any]) -> str:
    kind = w.get("type")
    if kind not in (*COMPUTE_TYPES, "disk", "network", "public_ip", "gateway_name"):
        raise InvalidSpec(f"workload {w['name']}: unknown type {kind!r}")
    return str(kind)


COMPUTE_FIELDS = (
    "type",
    "name",
    "image",
    "image_url",
    "cpu",
    "memory_mb",
    "entrypoint",
    "env",
    "mounts",
    "interfaces",
    "public_ip",
    "ports",
    "health",
)


def _compute(w: dict[str, Any], disks: dict[str, dict[str, Any]]) -> Compute:
    name = w["name"]
    f = expect_map(w, f"workload {name}", COMPUTE_FIELDS)
    ssd = hdd = 0
    for mount in expect_list(f["mounts"], f"{name}.mounts", MAX_WORKLOADS):
        m = expect_map(mount, f"{name}.mounts[]", ("disk", "mountpoint"))
        disk = disks.get(m["disk"])
        if disk is None:
            raise InvalidSpec(f"workload {name}: mount names {m['disk']!r}, which is not a disk")
        d = expect_map(disk, f"disk {m['disk']}", ("type", "name", "size_gb", "kind"))
        size = expect_int(d["size_gb"], f"disk {m['disk']}.size_gb", 1, 1 << 20)
        if d["kind"] == "ssd":
            ssd += size
        elif d["kind"] == "hdd":
            hdd += size
        else:
            raise InvalidSpec(f"disk {m['disk']}: kind must be ssd or hdd")
    ports = tuple(
        expect_int(p, f"{name}.ports[]", 1, 65535)
        for p in expect_list(f["ports"], f"{name}.ports", 64)
    )
    if len(set(ports)) != len(ports):
        raise InvalidSpec(f"workload {name}: ports repeat")
    need = Need(
        cores=expect_int(f["cpu"], f"{name}.cpu", 1, 256),
        memory_mb=expect_int(f["memory_mb"], f"{name}.memory_mb", 64, 1 << 22),
        ssd_gb=ssd,
        hdd_gb=hdd,
    )
    image = expect_text(f["image"], f"{name}.image", 512)
    image_url = expect_text(f["image_url"], f"{name}.image_url", 512)
    if f["type"] == "container":
        reason = container_image_error(image, image_url)
        if reason:
            raise InvalidSpec(f"workload {name}: {reason}")
    public_ip = expect_text(f["public_ip"], f"{name}.public_ip", 32)
    health = health_check(f["health"], name, ports)
    return Compute(name, f["type"], need, ports, ipv4=bool(public_ip), health=health)


MAX_HEALTH_PATH = 256
# An HTTP path as it goes on the request line: "/" then visible ASCII (no space, no control).
HEALTH_PATH = re.compile(r"/[\x21-\x7e]{0,255}\Z")


def health_check(value: Any, workload: str, ports: tuple[int, ...]) -> Health | None:
    """A compute workload's `health` field: `{}` (no check) or `{"port", "path"}`, the port one
    of `ports`, the path "" (a TCP connect) or an HTTP path. The node's agent reads it with
    this function too, so both read the same thing."""
    if value == {}:
        return None
    f = expect_map(value, f"{workload}.health", ("port", "path"))
    port = expect_int(f["port"], f"{workload}.health.port", 1, 65535)
    if port not in ports:
        raise InvalidSpec(
            f"workload {workload}: health.port {port} is not one of its ports {list(ports)}"
        )
    path = expect_text(f["path"], f"{workload}.health.path", MAX_HEALTH_PATH)
    if path and not HEALTH_PATH.match(path):
        raise InvalidSpec(
            f"workload {workload}: health.path must be empty (a TCP check) or an HTTP path: "
            f"'/' then at most {MAX_HEALTH_PATH - 1} visible ASCII characters, no spaces"
        )
    return Health(port, path)


def _gateway(w: dict[str, Any], kinds: dict[str, str]) -> GatewayName:
    name = w["name"]
    f = expect_map(
        w, f"workload {name}", ("type", "name", "subdomain", "backends", "tls_passthrough")
    )
    expect_bool(f["tls_passthrough"], f"{name}.tls_passthrough")
    backends = tuple(
        expect_text(b, f"{name}.backends[]", 512)
        for b in expect_list(f["backends"], f"{name}.backends", 16)
    )
    if not backends:
        raise InvalidSpec(f"gateway {name} needs at least one backend")
    for backend in backends:
        target = backend_workload(backend)
        if target is not None and kinds.get(target[0]) not in COMPUTE_TYPES:
            raise InvalidSpec(
                f"gateway {name}: backend {backend!r} names no compute workload of this spec"
            )
    return GatewayName(name, expect_text(f["subdomain"], f"{name}.subdomain", 63), backends)


HOST_IMAGE = "host"
ARCHIVE_IMAGE = re.compile(r"sha256:[0-9a-f]{64}\Z")


def container_image_error(image: str, image_url: str) -> str:
    """Why a container cannot run from `image` (and `image_url`), or "" if it can."""
    if image == HOST_IMAGE:
        return "" if not image_url else "the host image is not fetched: image_url must be empty"
    if not ARCHIVE_IMAGE.match(image):
        return f"image must be {HOST_IMAGE!r} or 'sha256:' and 64 lower-case hex digits"
    if not image_url.startswith(("http://", "https://")):
        return "an archive image needs an http(s) image_url to fetch it from"
    return ""


def backend_workload(backend: str) -> tuple[str, int] | None:
    """(workload, port) for a `name:port` backend; None for a URL."""
    if "://" in backend:
        return None
    name, sep, port = backend.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or not name:
        raise InvalidSpec(f"backend {backend!r} is neither a URL nor workload:port")
    return name, int(port)


PLACEMENT_FIELDS = ("countries", "farms", "nodes", "near", "replicas", "spread")


def _constraints(value: Any) -> Constraints:
    f = expect_map(value, "placement", PLACEMENT_FIELDS)
    countries = tuple(
        _country(c) for c in expect_list(f["countries"], "placement.countries", MAX_CHOICES)
    )
    farms = tuple(
        expect_int(x, "placement.farms[]", 1, 2**32)
        for x in expect_list(f["farms"], "placement.farms", MAX_CHOICES)
    )
    nodes = tuple(
        expect_int(x, "placement.nodes[]", 1, 2**32)
        for x in expect_list(f["nodes"], "placement.nodes", MAX_CHOICES)
    )
    for what, chosen in (("countries", countries), ("farms", farms), ("nodes", nodes)):
        if not _sorted_unique(chosen):
            raise InvalidSpec(f"placement.{what} must be sorted, without repeats")
    spread = expect_text(f["spread"], "placement.spread", 16)
    if spread not in SPREADS:
        raise InvalidSpec(f"placement.spread must be one of {list(SPREADS)}, got {spread!r}")
    return Constraints(
        countries=countries,
        farms=farms,
        nodes=nodes,
        near=_circle(f["near"]),
        replicas=expect_int(f["replicas"], "placement.replicas", 1, MAX_REPLICAS),
        spread=spread,
    )


def _sorted_unique(items: tuple[str, ...] | tuple[int, ...]) -> bool:
    return all(a < b for a, b in pairwise(items))  # type: ignore[operator]


def _country(value: Any) -> str:
    code = expect_text(value, "placement.countries[]", 2)
    if len(code) != 2 or not code.isascii() or not code.isupper():
        raise InvalidSpec(f"placement.countries: {code!r} is not an ISO 3166 alpha-2 code")
    return code


def _circle(value: Any) -> Circle | None:
    if value == {}:
        return None
    f = expect_map(value, "placement.near", ("latitude", "longitude", "radius_km"))
    return Circle(
        expect_int(f["latitude"], "near.latitude", -MAX_MICRO_LATITUDE, MAX_MICRO_LATITUDE),
        expect_int(f["longitude"], "near.longitude", -MAX_MICRO_LONGITUDE, MAX_MICRO_LONGITUDE),
        expect_int(f["radius_km"], "near.radius_km", 1, MAX_RADIUS_KM),
    )


def spec_error(data: bytes) -> str:
    """Why the chain would refuse to place `data`, or "" (what a contract checks on submit)."""
    try:
        decode_spec(data)
    except InvalidSpec as exc:
        return exc.message
    return ""
