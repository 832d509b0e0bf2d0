"""Workload specs as customers write them (JSON), validated at the edge before they are signed.

A spec names its workloads (vm or container, disk, private network, public ip, gateway name
proxy), where they may run (placement), what the customer will pay (budget) and how long the
request stays open (expiry). `load_spec` checks types, ranges and cross references (a mount
names a disk of the spec, a vm joins a network of the spec, ...) and `spec_bytes` gives the
canonical bytes the chain stores and signers sign the hash of.
"""

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from chain.deployment.spec import HEALTH_PATH, MAX_HEALTH_PATH, container_image_error, decode_spec
from chain.encoding import encode
from chain.errors import InvalidSpec
from chain.hashing import hash32

NAME = validate.Regexp(r"^[a-z][a-z0-9-]{0,31}\Z", error="must be 1-32 of a-z, 0-9 and '-'")
MAX_WORKLOADS = 32


class Strict(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


def _ip_network(text: str) -> None:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValidationError(f"{text!r} is not a network in CIDR form: {exc}") from None


def _ip_address(text: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not an IP address") from None


_URL = validate.URL(schemes={"http", "https"}, require_tld=False)
_WORKLOAD_PORT = re.compile(r"^[a-z][a-z0-9-]{0,31}:[0-9]{1,5}\Z")


def _backend(text: str) -> None:
    """A URL, or `name:port` of a compute workload of the spec (wherever it runs now)."""
    if "://" in text:
        _URL(text)
    elif not _WORKLOAD_PORT.match(text) or not 1 <= int(text.rpartition(":")[2]) <= 65535:
        raise ValidationError(f"{text!r} is neither an http(s) URL nor workload:port")


class MountSchema(Strict):
    disk = fields.String(required=True, validate=NAME)
    mountpoint = fields.String(required=True, validate=validate.Regexp(r"^/[^\s]{0,254}\Z"))


class InterfaceSchema(Strict):
    network = fields.String(required=True, validate=NAME)
    ip = fields.String(required=True, validate=_ip_address)


class HealthSchema(Strict):
    """A health check the replica's node runs: a TCP connect to `port` (`path` empty) or an
    HTTP GET of `path` that must answer 2xx or 3xx."""

    port = fields.Integer(required=True, strict=True, validate=validate.Range(1, 65535))
    path = fields.String(
        load_default="",
        validate=validate.Regexp(
            rf"^(?:{HEALTH_PATH.pattern}|\Z)",
            error="must be empty (a TCP check) or an HTTP path: '/' then at most "
            f"{MAX_HEALTH_PATH - 1} visible ASCII characters, no spaces",
        ),
    )


class ComputeSchema(Strict):
    """A virtual machine or a container."""

    type = fields.String(required=True, validate=validate.OneOf(["vm", "container"]))
    name = fields.String(required=True, validate=NAME)
    image = fields.String(required=True, validate=validate.Length(1, 512))
    image_url = fields.String(load_default="", validate=validate.Length(0, 512))
    cpu = fields.Integer(required=True, strict=True, validate=validate.Range(1, 256))
    memory_mb = fields.Integer(required=True, strict=True, validate=validate.Range(64, 1 << 22))
    entrypoint = fields.String(load_default="", validate=validate.Length(0, 512))
    env = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")),
        values=fields.String(validate=validate.Length(0, 1024)),
        load_default=dict,
    )
    mounts = fields.List(fields.Nested(MountSchema), load_default=list)
    interfaces = fields.List(fields.Nested(InterfaceSchema), load_default=list)
    public_ip = fields.String(
        load_default="", validate=validate.Regexp(r"^([a-z][a-z0-9-]{0,31})?\Z")
    )
    ports = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, 65535)), load_default=list
    )
    health = fields.Nested(HealthSchema, load_default=dict)

    @pre_load
    def no_health(self, data: Any, **_: Any) -> Any:
        """`health: {}` is how canonical bytes say "no check": it loads back as it was saved."""
        if isinstance(data, dict) and data.get("health") == {}:
            return {k: v for k, v in data.items() if k != "health"}
        return data

    @validates_schema
    def check_ports(self, data: dict[str, Any], **_: Any) -> None:
        if len(set(data["ports"])) != len(data["ports"]):
            raise ValidationError("ports must not repeat", "ports")

    @validates_schema
    def check_health(self, data: dict[str, Any], **_: Any) -> None:
        port = data["health"].get("port")
        if port is not None and port not in data["ports"]:
            raise ValidationError(
                f"port {port} is not one of the workload's ports {data['ports']}", "health"
            )

    @validates_schema
    def check_image(self, data: dict[str, Any], **_: Any) -> None:
        """A container runs on the node's own system ("host") or from a root filesystem
        archive named by its sha256 and fetched from image_url; the node checks the hash."""
        if data["type"] != "container":
            return
        reason = container_image_error(data["image"], data["image_url"])
        if reason:
            raise ValidationError(reason, "image")


class DiskSchema(Strict):
    type = fields.String(required=True, validate=validate.Equal("disk"))
    name = fields.String(required=True, validate=NAME)
    size_gb = fields.Integer(required=True, strict=True, validate=validate.Range(1, 1 << 20))
    kind = fields.String(load_default="ssd", validate=validate.OneOf(["ssd", "hdd"]))


class NetworkSchema(Strict):
    type = fields.String(required=True, validate=validate.Equal("network"))
    name = fields.String(required=True, validate=NAME)
    ip_range = fields.String(required=True, validate=_ip_network)
    subnet = fields.String(required=True, validate=_ip_network)

    @validates_schema
    def check_subnet(self, data: dict[str, Any], **_: Any) -> None:
        whole = ipaddress.ip_network(data["ip_range"])
        part = ipaddress.ip_network(data["subnet"])
        if part.version != whole.version or not part.subnet_of(whole):  # type: ignore[arg-type]
            raise ValidationError(f"subnet is not inside ip_range {data['ip_range']}", "subnet")


class PublicIpSchema(Strict):
    type = fields.String(required=True, validate=validate.Equal("public_ip"))
    name = fields.String(required=True, validate=NAME)
    v4 = fields.Boolean(load_default=True)
    v6 = fields.Boolean(load_default=False)

    @validates_schema
    def check_family(self, data: dict[str, Any], **_: Any) -> None:
        if not (data["v4"] or data["v6"]):
            raise ValidationError("a public ip needs v4, v6 or both", "v4")


class GatewaySchema(Strict):
    """A gateway name proxy: <subdomain>.<gateway domain> in front of backends."""

    type = fields.String(required=True, validate=validate.Equal("gateway_name"))
    name = fields.String(required=True, validate=NAME)
    subdomain = fields.String(
        required=True, validate=validate.Regexp(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
    )
    backends = fields.List(
        fields.String(validate=_backend), required=True, validate=validate.Length(1, 16)
    )
    tls_passthrough = fields.Boolean(load_default=False)


WORKLOAD_SCHEMAS: dict[str, type[Schema]] = {
    "vm": ComputeSchema,
    "container": ComputeSchema,
    "disk": DiskSchema,
    "network": NetworkSchema,
    "public_ip": PublicIpSchema,
    "gateway_name": GatewaySchema,
}


class WorkloadField(fields.Field):  # type: ignore[type-arg]
    """One workload, validated by the schema its "type" names."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError("a workload must be an object")
        kind = value.get("type")
        schema = WORKLOAD_SCHEMAS.get(kind) if isinstance(kind, str) else None
        if schema is None:
            raise ValidationError(f"type must be one of {sorted(WORKLOAD_SCHEMAS)}, got {kind!r}")
        return schema().load(value)


class CircleSchema(Strict):
    """Within radius_km of a point (latitude and longitude in millionths of a degree)."""

    latitude = fields.Integer(
        required=True, strict=True, validate=validate.Range(-90_000_000, 90_000_000)
    )
    longitude = fields.Integer(
        required=True, strict=True, validate=validate.Range(-180_000_000, 180_000_000)
    )
    radius_km = fields.Integer(required=True, strict=True, validate=validate.Range(1, 20_038))


def _sorted_unique(items: list[Any]) -> list[Any]:
    return sorted(set(items))


class PlacementSchema(Strict):
    """Where the chain may place each compute workload's replicas; empty lists: anywhere."""

    countries = fields.List(
        fields.String(validate=validate.Regexp(r"^[A-Z]{2}\Z", error="must be an ISO code")),
        load_default=list,
        validate=validate.Length(0, 16),
    )
    farms = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, 2**32)),
        load_default=list,
        validate=validate.Length(0, 16),
    )
    nodes = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, 2**32)),
        load_default=list,
        validate=validate.Length(0, 16),
    )
    near = fields.Nested(CircleSchema, load_default=dict)
    replicas = fields.Integer(load_default=1, strict=True, validate=validate.Range(1, 64))
    spread = fields.String(
        load_default="node", validate=validate.OneOf(["node", "farm", "country"])
    )

    @pre_load
    def no_circle(self, data: Any, **_: Any) -> Any:
        """`near: {}` is how canonical bytes say "no circle": it loads back as it was saved."""
        if isinstance(data, dict) and data.get("near") == {}:
            return {k: v for k, v in data.items() if k != "near"}
        return data

    @post_load
    def canonical_lists(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for name in ("countries", "farms", "nodes"):
            data[name] = _sorted_unique(data[name])
        return data


class SpecSchema(Strict):
    name = fields.String(required=True, validate=NAME)
    description = fields.String(load_default="", validate=validate.Length(0, 1024))
    workloads = fields.List(
        WorkloadField(), required=True, validate=validate.Length(1, MAX_WORKLOADS)
    )
    placement = fields.Nested(PlacementSchema, load_default=lambda: PlacementSchema().load({}))
    budget = fields.Integer(required=True, strict=True, validate=validate.Range(0, 2**63 - 1))
    expiry_blocks = fields.Integer(
        load_default=1000, strict=True, validate=validate.Range(1, 10**7)
    )

    @validates_schema
    def check_references(self, data: dict[str, Any], **_: Any) -> None:
        workloads = data.get("workloads", [])
        names = [w["name"] for w in workloads]
        if len(set(names)) != len(names):
            raise ValidationError("workload names must be unique", "workloads")
        kinds = {w["name"]: w["type"] for w in workloads}
        for w in workloads:
            if w["type"] not in ("vm", "container"):
                continue
            for mount in w["mounts"]:
                if kinds.get(mount["disk"]) != "disk":
                    raise ValidationError(
                        f"{w['name']}: mount names {mount['disk']!r}, which is not a disk",
                        "workloads",
                    )
            for iface in w["interfaces"]:
                if kinds.get(iface["network"]) != "network":
                    raise ValidationError(
                        f"{w['name']}: interface names {iface['network']!r}, not a network",
                        "workloads",
                    )
                network = next(n for n in workloads if n["name"] == iface["network"])
                if ipaddress.ip_address(iface["ip"]) not in ipaddress.ip_network(network["subnet"]):
                    raise ValidationError(
                        f"{w['name']}: ip {iface['ip']} is outside subnet {network['subnet']}",
                        "workloads",
                    )
            if w["public_ip"] and kinds.get(w["public_ip"]) != "public_ip":
                raise ValidationError(
                    f"{w['name']}: public_ip names {w['public_ip']!r}, which is not a public ip",
                    "workloads",
                )


def _errors(errors: Any, path: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [
            line
            for key in sorted(errors, key=str)
            for line in _errors(errors[key], f"{path}.{key}" if path else str(key))
        ]
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [f"{path}: {' '.join(errors)}" if path else " ".join(errors)]
    return [f"{path}: {errors}"]


def load_spec(document: Any) -> dict[str, Any]:
    """The validated spec (defaults filled in), or InvalidSpec listing each wrong field."""
    try:
        spec: dict[str, Any] = SpecSchema().load(document)
    except ValidationError as exc:
        messages = exc.normalized_messages()  # type: ignore[no-untyped-call]
        raise InvalidSpec(
            "workload spec is invalid: " + "; ".join(_errors(messages)),
            messages if isinstance(messages, dict) else {"_schema": messages},
        ) from None
    plain: dict[str, Any] = _plain(spec)
    decode_spec(spec_bytes(plain))  # what the chain checks again: raises InvalidSpec
    return plain


def _plain(value: Any) -> Any:
    """marshmallow's ordered dicts as plain ones (canonical encoding sorts keys anyway)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_spec_file(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidSpec(f"cannot read spec {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSpec(f"{path} is not JSON: {exc}") from None
    return load_spec(document)


def spec_bytes(spec: dict[str, Any]) -> bytes:
    """Canonical bytes of a validated spec: what the chain stores."""
    return encode(spec)


def spec_hash(spec: dict[str, Any]) -> bytes:
    return hash32(spec_bytes(spec))
