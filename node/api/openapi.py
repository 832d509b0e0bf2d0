"""The OpenAPI 3.1 description of the node API, served at /v1/openapi.json."""

from typing import Any

from chain.address import TEXT_SIZE
from chain.blocks.header import MAX_HEIGHT
from chain.farming.txs import MAX_ID
from chain.ledger.transactions import MAX_TX_SIZE
from chain.snapshot.manifest import MAX_BITS
from chain.store import MAX_AUDIT_RANGE
from node.api.blocks import MAX_BLOCKS_PAGE, MAX_PAGE_BYTES
from node.api.body import MAX_BATCH
from node.api.farming import MAX_LIST_PAGE, MAX_NODE_SCAN, MAX_REWARD_EPOCHS
from node.api.workloads import MAX_WORKLOADS_PAGE

HEX = {"type": "string", "pattern": "^[0-9a-f]*$"}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _cbor(description: str) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    return {"description": description, "content": {"application/cbor": {"schema": binary}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): _json(_ref("Error"), "error with a machine-readable code") for s in statuses}


# What each kind of parameter may be: the handlers refuse the rest with a 400. An address's
# checksum is beyond a pattern: a well-formed address with a wrong checksum is a 400 too.
HEX64 = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}
# A signed transaction's canonical bytes, hex: what decodes and verifies is beyond a schema.
SIGNED_TX = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]*$",
    "minLength": 2,
    "maxLength": 2 * MAX_TX_SIZE,
}
ADDRESS = {"type": "string", "pattern": f"^[0-9a-fA-F]{{{TEXT_SIZE}}}$"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID - 1}
INDEX = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
HEIGHT = {"type": "integer", "minimum": 0, "maximum": MAX_HEIGHT}
BLOCK_REF = {"type": "string", "pattern": "^(latest|[0-9]{1,19}|[0-9a-fA-F]{64})$"}
LIGHT_REF = {"type": "string", "pattern": "^(latest|[0-9]{1,19})$"}
SIZE = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_RANGE}
EPOCHS = {"type": "integer", "minimum": 1, "maximum": MAX_REWARD_EPOCHS}
CHUNK_INDEX = {"type": "integer", "minimum": 0, "maximum": (1 << MAX_BITS) - 1}
BEFORE_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_OBJECT = {"type": ["object", "null"]}
SETTLED = {
    "name": "settled",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean"},
    "description": "with the last settled epoch's reward line (`last_epoch`; default false)",
}
NODE = {
    "type": "object",
    "required": [
        "id",
        "farm",
        "key",
        "height",
        "last_seen",
        "down",
        "status",
        "activity",
        "projected",
    ],
    "properties": {
        "id": ID,
        "farm": ID,
        "key": HEX,
        "height": {"type": "integer", "minimum": 0},
        "last_seen": NULLABLE_INT,
        "down": NULLABLE_OBJECT,
        "status": {"enum": ["up", "down", "unseen"]},
        "activity": NULLABLE_OBJECT,
        "projected": NULLABLE_OBJECT,
        "last_epoch": {
            "type": ["object", "null"],
            "description": "only with settled=true (always in /v1/nodes): what the last "
            "settled epoch paid it, null if nothing",
        },
    },
}
PAGE_HEAD = {
    "height": {"type": "integer", "minimum": 0},
    "epoch": NULLABLE_OBJECT,
    "settled_epoch": NULLABLE_INT,
    "next_start": {
        "type": ["integer", "null"],
        "description": "the next page's `start`: after the last id looked at; null at the end",
    },
}


def _list_page(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [*PAGE_HEAD, key],
        "properties": PAGE_HEAD | {key: {"type": "array", "items": item}},
    }


def _page(maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": maximum}


def _path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _query_param(
    name: str, schema: dict[str, Any], description: str, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


def openapi_spec(version: str) -> dict[str, Any]:
    obj = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridchain node API",
            "version": version,
            "description": "Submit signed transactions, read blocks, transactions and accounts "
            "with state proofs. Transactions are canonical CBOR, hex-encoded; build and sign "
            "them with the gridchain CLI or library.",
        },
        "paths": {
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json(obj, "the OpenAPI 3.1 document of this API")},
                }
            },
            "/v1/status": {
                "get": {
                    "summary": "Chain id, head block and mempool of this node",
                    "responses": {"200": _json(_ref("Status"), "node status")},
                }
            },
            "/v1/contracts/{address}": {
                "get": {
                    "summary": "A contract's balance, code hash, public functions and disassembly",
                    "parameters": [_path_param("address", ADDRESS, "a contract address")],
                    "responses": {"200": _json(obj, "contract"), **_errors(400, 404)},
                }
            },
            "/v1/contracts/{address}/query": {
                "post": {
                    "summary": "Run a public function read-only on the head state (metered)",
                    "parameters": [_path_param("address", ADDRESS, "a contract address")],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["function"],
                                    "properties": {
                                        "function": {"type": "string"},
                                        "args": {"type": "array"},
                                        "caller": {"type": ["string", "null"]},
                                        "gas_limit": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(obj, "status, value, gas used, message"),
                        **_errors(400, 404),
                    },
                }
            },
            "/v1/audit": {
                "get": {
                    "summary": "Size and root of the audit log at the head",
                    "responses": {"200": _json(obj, "size, root, height")},
                }
            },
            "/v1/audit/entries": {
                "get": {
                    "summary": "Audit entries by position (start, limit <= 1000)",
                    "parameters": [
                        _query_param("start", INDEX, "the first position (default 0)"),
                        _query_param("end", INDEX, "stop before this position (default: the size)"),
                        _query_param("limit", LIMIT, "at most this many (default 100)"),
                    ],
                    "responses": {
                        "200": _json(obj, "entries with their leaf hashes"),
                        **_errors(400),
                    },
                }
            },
            "/v1/audit/contracts/{address}/entries": {
                "get": {
                    "summary": "The audit entries one contract emitted (start, limit)",
                    "parameters": [
                        _path_param("address", ADDRESS, "the emitting contract's address"),
                        _query_param("start", INDEX, "skip this many of its entries (default 0)"),
                        _query_param("limit", LIMIT, "at most this many (default 100)"),
                    ],
                    "responses": {"200": _json(obj, "entries"), **_errors(400)},
                }
            },
            "/v1/audit/entries/{index}/proof": {
                "get": {
                    "summary": "Inclusion proof of an entry (size: default latest), with the "
                    "header committing that size",
                    "parameters": [
                        _path_param("index", INDEX, "the entry's position in the log"),
                        _query_param("size", SIZE, "the log size to prove in (default: now)"),
                    ],
                    "responses": {"200": _json(obj, "proof bundle"), **_errors(400, 404)},
                }
            },
            "/v1/audit/consistency": {
                "get": {
                    "summary": "Consistency proof between two log sizes, with both headers",
                    "parameters": [
                        _query_param("first", SIZE, "the earlier size", required=True),
                        _query_param("second", SIZE, "the later size (default: now)"),
                    ],
                    "responses": {"200": _json(obj, "proof bundle"), **_errors(400, 404)},
                }
            },
            "/v1/farming": {
                "get": {
                    "summary": "Head, running epoch (number, first height, seed), the recent "
                    "block hashes heartbeats and compute challenges name, farming parameters",
                    "responses": {"200": _json(obj, "farming view")},
                }
            },
            "/v1/farms": {
                "get": {
                    "summary": "Farms by id from `start`, at most `limit` ids (default 50, at "
                    "most 100), each with how many nodes it has and what its nodes proved and "
                    "earned in the last settled epoch, as the settling block paid them (its "
                    "nodes' statuses and this epoch's projections: /v1/nodes?farm=); "
                    "`next_start` is the next page's start",
                    "parameters": [
                        _query_param("start", ID, "the first farm id (default 1)"),
                        _query_param("limit", _page(MAX_LIST_PAGE), "ids to look at"),
                    ],
                    "responses": {"200": _json(_ref("FarmsPage"), "farms"), **_errors(400)},
                }
            },
            "/v1/nodes": {
                "get": {
                    "summary": "Farming nodes by id from `start` (of one farm with `farm`), at "
                    f"most `limit` (default 50, at most 100) and {MAX_NODE_SCAN:,} ids looked "
                    "at: each with its location, status (up, down, unseen), activity this "
                    "epoch, projected and last settled reward lines (proven storage, compute, "
                    "uptime, amount), replicas and gateway names. `next_start` follows the last "
                    "id looked at, so a page of one farm's nodes may hold fewer than `limit`, "
                    "or none, before the last: page on until it is null",
                    "parameters": [
                        _query_param("start", ID, "the first node id (default 1)"),
                        _query_param("limit", _page(MAX_LIST_PAGE), "at most this many"),
                        _query_param("farm", ID, "only this farm's nodes"),
                    ],
                    "responses": {"200": _json(_ref("NodesPage"), "nodes"), **_errors(400)},
                }
            },
            "/v1/farms/{farm}": {
                "get": {
                    "summary": "A farm (owner, payout, bond, last slashed epoch) and its node ids",
                    "parameters": [_path_param("farm", ID, "farm id")],
                    "responses": {"200": _json(obj, "farm"), **_errors(400, 404)},
                }
            },
            "/v1/farms/{farm}/rewards": {
                "get": {
                    "summary": "The farm's reward lines of its last settled epochs (epochs: "
                    "default 10, at most 1000), newest first, as the settling blocks carried them",
                    "parameters": [
                        _path_param("farm", ID, "farm id"),
                        _query_param("epochs", EPOCHS, "how many (default 10)"),
                    ],
                    "responses": {
                        "200": _json(obj, "epochs with lines and total"),
                        **_errors(400, 404),
                    },
                }
            },
            "/v1/nodes/{node}": {
                "get": {
                    "summary": "A farming node, its status, its activity this epoch and its "
                    "projected reward; with `settled`, the last settled epoch's line too",
                    "parameters": [_path_param("node", ID, "node id"), SETTLED],
                    "responses": {"200": _json(_ref("Node"), "node"), **_errors(400, 404)},
                }
            },
            "/v1/nodes/by-key/{public_key}": {
                "get": {
                    "summary": "The same, found by the node's public key",
                    "parameters": [
                        _path_param("public_key", HEX64, "the node's public key"),
                        SETTLED,
                    ],
                    "responses": {"200": _json(_ref("Node"), "node"), **_errors(400, 404)},
                }
            },
            "/v1/deployments/{contract}/{wid}": {
                "get": {
                    "summary": "A workload's deployment: state, escrow, replicas with their "
                    "nodes and countries, gateway names with their URLs",
                    "parameters": [
                        _path_param("contract", ADDRESS, "the contract's address"),
                        _path_param("wid", ID, "the contract's workload id"),
                    ],
                    "responses": {"200": _json(obj, "deployment"), **_errors(400, 404)},
                }
            },
            "/v1/workloads": {
                "get": {
                    "summary": "The standard workload contract's workloads, newest first: ids "
                    "below `before` (default: all), at most `limit` (default 20, at most 100), "
                    "each with its state, version, owner, spec name and deployment (replicas "
                    "with their nodes, countries and the nodes they left)",
                    "parameters": [
                        _query_param("before", BEFORE_ID, "only ids below this"),
                        _query_param("limit", _page(MAX_WORKLOADS_PAGE), "at most this many"),
                    ],
                    "responses": {"200": _json(obj, "workloads"), **_errors(400)},
                }
            },
            "/v1/workloads/{wid}": {
                "get": {
                    "summary": "One workload of the standard workload contract: the same, with "
                    "its spec and its signers (who has signed the version)",
                    "parameters": [_path_param("wid", ID, "the workload id")],
                    "responses": {"200": _json(obj, "workload"), **_errors(400, 404)},
                }
            },
            "/v1/nodes/{node}/replicas": {
                "get": {
                    "summary": "The replicas placed on a node, each with the spec it runs "
                    "(what the node's agent reconciles against)",
                    "parameters": [_path_param("node", ID, "node id")],
                    "responses": {"200": _json(obj, "replicas"), **_errors(400, 404)},
                }
            },
            "/v1/nodes/{node}/routes": {
                "get": {
                    "summary": "The gateway names a gateway node serves, with their backends now",
                    "parameters": [_path_param("node", ID, "node id")],
                    "responses": {"200": _json(obj, "routes"), **_errors(400, 404)},
                }
            },
            "/v1/validators": {
                "get": {
                    "summary": "Active validators (with their downtime window and the share of "
                    "it they signed), the jailed, and the council's pending changes",
                    "responses": {"200": _json(obj, "validator set")},
                }
            },
            "/v1/light/path": {
                "get": {
                    "summary": "The light blocks a light client trusting height `from` "
                    "(default 0, genesis) verifies to reach height `to`, in order: as few as "
                    "the validator set's changes allow, at most 1,000 per answer (`reached` is "
                    "the last one's height, `complete` whether it is `to`; ask again from it)",
                    "parameters": [
                        _query_param("from", HEIGHT, "trusted height (default 0)"),
                        _query_param("to", HEIGHT, "height to reach", required=True),
                    ],
                    "responses": {"200": _json(obj, "light blocks"), **_errors(400, 404)},
                }
            },
            "/v1/snapshots": {
                "get": {
                    "summary": "The snapshots of the state this node serves to nodes that join "
                    "late (state sync), newest first: height, manifest hash, state root, chunks",
                    "responses": {"200": _json(obj, "snapshots")},
                }
            },
            "/v1/snapshots/{height}/manifest": {
                "get": {
                    "summary": "A snapshot's manifest in canonical bytes: each chunk's subtree "
                    "of the state tree and how many records it holds",
                    "parameters": [_path_param("height", HEIGHT, "the snapshot's height")],
                    "responses": {"200": _cbor("manifest"), **_errors(400, 404)},
                }
            },
            "/v1/snapshots/{height}/chunks/{index}": {
                "get": {
                    "summary": "One chunk of a snapshot in canonical bytes: the state records "
                    "under its key prefix, in key order",
                    "parameters": [
                        _path_param("height", HEIGHT, "the snapshot's height"),
                        _path_param("index", CHUNK_INDEX, "the chunk's index"),
                    ],
                    "responses": {"200": _cbor("chunk"), **_errors(400, 404)},
                }
            },
            "/v1/snapshots/{height}/block": {
                "get": {
                    "summary": "The block a snapshot is the state after, in canonical bytes",
                    "parameters": [_path_param("height", HEIGHT, "the snapshot's height")],
                    "responses": {"200": _cbor("block"), **_errors(400, 404)},
                }
            },
            "/v1/snapshots/{height}/headers": {
                "get": {
                    "summary": "The headers of the 256 blocks before a snapshot's (fewer near "
                    "genesis), oldest first, in canonical bytes: the hashes the proposer "
                    "election reads",
                    "parameters": [_path_param("height", HEIGHT, "the snapshot's height")],
                    "responses": {"200": _cbor("headers"), **_errors(400, 404)},
                }
            },
            "/v1/light/{ref}": {
                "get": {
                    "summary": "A height's light block: its header, the validator set that "
                    "signed it and its finality certificate, in canonical bytes (hex)",
                    "parameters": [_path_param("ref", LIGHT_REF, "height or 'latest'")],
                    "responses": {"200": _json(obj, "light block"), **_errors(400, 404)},
                }
            },
            "/v1/proposals": {
                "get": {
                    "summary": "The council (its members, weights and threshold), its open "
                    "proposals and the latest closed ones, newest first, each with the weight "
                    "approved so far",
                    "responses": {"200": _json(obj, "proposals")},
                }
            },
            "/v1/proposals/{proposal_id}": {
                "get": {
                    "summary": "One proposal by the id of the transaction that submitted it: "
                    "its content, approvals, status (open, executed, failed, expired) and why "
                    "it failed",
                    "parameters": [
                        _path_param(
                            "proposal_id", HEX64, "the id of the transaction that submitted it"
                        )
                    ],
                    "responses": {"200": _json(obj, "proposal"), **_errors(400, 404)},
                }
            },
            "/v1/upgrade": {
                "get": {
                    "summary": "The software upgrade the council planned, if any: name, "
                    "height, version, artifact URL and sha256",
                    "responses": {"200": _json(obj, "upgrade plan")},
                }
            },
            "/v1/validator-sets/{set_hash}": {
                "get": {
                    "summary": "A validator set the chain has had, by the hash headers name it "
                    "with; its canonical bytes hash to it",
                    "parameters": [_path_param("set_hash", HEX64, "the set's hash")],
                    "responses": {"200": _json(obj, "validator set"), **_errors(400, 404)},
                }
            },
            "/v1/txs": {
                "post": {
                    "summary": "Submit one signed transaction",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("SubmitTx")}},
                    },
                    "responses": {
                        "202": _json(_ref("Pending"), "admitted to the mempool"),
                        **_errors(400, 409, 503),
                    },
                }
            },
            "/v1/txs/batch": {
                "post": {
                    "summary": "Submit up to 10,000 signed transactions; signatures are checked "
                    "on every core. JSON (hex strings), or one canonical CBOR array of their "
                    "bytes (application/cbor) for bulk senders",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("SubmitBatch")},
                            "application/cbor": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {
                        "200": _json(obj, "one result (id or error) per transaction, in order"),
                        **_errors(400, 503),
                    },
                }
            },
            "/v1/txs/{tx_id}": {
                "get": {
                    "summary": "A transaction with its receipt and block",
                    "parameters": [_path_param("tx_id", HEX64, "the transaction's id")],
                    "responses": {
                        "200": _json(_ref("TxStatus"), "pending or committed"),
                        **_errors(400, 404),
                    },
                }
            },
            "/v1/accounts/{address}": {
                "get": {
                    "summary": "An account and its sparse Merkle proof against the head state root",
                    "parameters": [_path_param("address", ADDRESS, "hex address with checksum")],
                    "responses": {
                        "200": _json(_ref("Account"), "account with proof"),
                        **_errors(400),
                    },
                }
            },
            "/v1/blocks": {
                "get": {
                    "summary": "The latest blocks, newest first: heights below `before` "
                    "(default: all), at most `limit` (default 20, at most 100), each one's "
                    "header with its transaction count and size in bytes; a page ends early "
                    f"once it holds {MAX_PAGE_BYTES // 2**20} MiB of blocks: `next_before` "
                    "goes on from its last",
                    "parameters": [
                        _query_param("before", HEIGHT, "only heights below this"),
                        _query_param("limit", _page(MAX_BLOCKS_PAGE), "at most this many"),
                    ],
                    "responses": {"200": _json(_ref("BlocksPage"), "headers"), **_errors(400)},
                }
            },
            "/v1/blocks/{ref}": {
                "get": {
                    "summary": "A block by height, hash or 'latest', with its finalizing commit",
                    "parameters": [
                        _path_param("ref", BLOCK_REF, "height, 64-hex hash or 'latest'")
                    ],
                    "responses": {"200": _json(_ref("Block"), "block"), **_errors(400, 404)},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": ERROR,
                "Node": NODE,
                "NodesPage": _list_page("nodes", _ref("Node")),
                "FarmsPage": _list_page(
                    "farms",
                    {
                        "type": "object",
                        "required": ["id", "name", "nodes", "last_epoch"],
                        "properties": {"id": ID, "nodes": {"type": "integer", "minimum": 0}},
                    },
                ),
                "BlocksPage": {
                    "type": "object",
                    "required": ["height", "base_height", "blocks", "next_before"],
                    "properties": {
                        "blocks": {"type": "array", "items": obj},
                        "next_before": NULLABLE_INT,
                    },
                },
                "SubmitTx": {
                    "type": "object",
                    "required": ["tx"],
                    "additionalProperties": False,
                    "properties": {"tx": SIGNED_TX},
                },
                "SubmitBatch": {
                    "type": "object",
                    "required": ["txs"],
                    "additionalProperties": False,
                    "properties": {
                        "txs": {
                            "type": "array",
                            "items": HEX,
                            "minItems": 1,
                            "maxItems": MAX_BATCH,
                        }
                    },
                },
                "Pending": {
                    "type": "object",
                    "properties": {"id": HEX, "status": {"const": "pending"}},
                },
                "TxStatus": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": HEX,
                        "status": {"enum": ["pending", "committed", "rejected"]},
                        "error": {"type": "object", "description": "why it was left out"},
                        "tx": obj,
                        "receipt": {"type": ["object", "null"]},
                        "block": {"type": ["object", "null"]},
                    },
                },
                "Account": {
                    "type": "object",
                    "properties": {
                        "address": {"type": "string"},
                        "exists": {"type": "boolean"},
                        "balance": {"type": "integer"},
                        "nonce": {"type": "integer"},
                        "next_nonce": {
                            "type": "integer",
                            "description": "nonce for the next transaction, counting pending ones",
                        },
                        "policy": {"type": ["object", "null"]},
                        "height": {"type": "integer"},
                        "block_hash": HEX,
                        "state_root": HEX,
                        "state_key": HEX,
                        "value": {"type": ["string", "null"]},
                        "proof": obj,
                    },
                },
                "Block": {
                    "type": "object",
                    "properties": {
                        "header": obj,
                        "txs": {"type": "array", "items": obj},
                        "last_commit": {"type": ["object", "null"]},
                        "commit": {"type": ["object", "null"]},
                    },
                },
                "Status": {
                    "type": "object",
                    "properties": {
                        "chain_id": {"type": "string"},
                        "genesis_hash": HEX,
                        "height": {"type": "integer"},
                        "block_hash": HEX,
                        "state_root": HEX,
                        "time_ms": {"type": "integer"},
                        "mempool": obj,
                        "validator": HEX,
                        "consensus": obj,
                        "version": {"type": "string"},
                        "base_height": {"type": "integer", "minimum": 0},
                        "state_sync": obj,
                    },
                },
            }
        },
    }
