"""The node-to-node protocol's paths (apps/network: served by every node at /p2p/v1/) in the API description,
so the schemathesis test checks them too. Shapes and limits come from apps.network.protocol."""

from apps.network import protocol

HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
INTEGER = {"type": "integer", "minimum": 0}
TAG = "node-to-node protocol v%d" % protocol.VERSION


def _object(properties, *, required=None, additional=False):
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": additional,
    }


def _json(schema):
    return {"application/json": {"schema": schema}}


ERROR = {"$ref": "#/components/schemas/Error"}
TIP = _object({"height": INTEGER, "hash": HEX64, "chainwork": HEX64})
HELLO = _object({
    "protocol": {"type": "integer", "const": protocol.VERSION},
    "node": {**HEX64, "description": "the node's Ed25519 public key"},
    "genesis": HEX64,
    "params": {"type": "object", "description": "the chain parameters; a peer with others is another chain"},
    "tip": TIP,
    "url": {"type": ["string", "null"], "description": "where peers reach this node (FEDCHAIN_NODE_URL)"},
})
PEERS = _object({"peers": {"type": "array", "items": {"type": "string"}, "maxItems": protocol.MAX_PEERS_SHARED}})
ITEM = {
    "oneOf": [
        _object({"type": {"const": "block"}, "hash": HEX64}),
        _object({"type": {"const": "batch"}, "experiment": {**INTEGER, "maximum": protocol.MAX_EXPERIMENT},
                 "round": {**INTEGER, "maximum": protocol.MAX_ROUND}}),
    ]
}
INVENTORY = _object(
    {"from": {"type": ["string", "null"], "maxLength": protocol.MAX_URL,
              "pattern": protocol.PEER_URL_PATTERN,
              "description": "the sender's own base URL, to sync from"},
     "items": {"type": "array", "items": ITEM, "maxItems": protocol.MAX_INVENTORY}},
    required=["items"],
)
ACCEPTED = _object({"accepted": INTEGER, "sync_queued": {"type": "boolean"}})
HEADERS = _object({"headers": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{160}$"},
                               "maxItems": protocol.MAX_HEADERS}})
RECORDS = {"type": "array", "items": {"type": "string", "description": "a record's RFC 8785 bytes"}, "minItems": 1}
BLOCK = _object({
    "hash": HEX64,
    "header": {"type": "string", "pattern": "^[0-9a-f]{160}$"},
    "records": RECORDS,
    "mined_by": {"oneOf": [{"type": "null"}, _object({"node": HEX64, "signature": {"type": "string",
                                                                                   "pattern": "^[0-9a-f]{128}$"}})]},
})
BATCH_LIST = _object({"batches": {"type": "array", "maxItems": protocol.MAX_BATCHES_LISTED,
                                  "items": _object({"experiment": INTEGER, "round": INTEGER})}})
BATCH = _object({
    "experiment": INTEGER, "round": INTEGER, "parent_model": {"oneOf": [{"type": "null"}, HEX64]},
    "difficulty_bits": {**INTEGER, "maximum": 255}, "records": RECORDS,
    "mining_reward": {"oneOf": [{"type": "null"}, {"type": "number", "minimum": 0, "maximum": 1e9}],
                      "description": "what the block's miner pays itself (null: no reward)"},
})


def _responses(ok, *, ok_status="200", extra=()):
    responses = {
        ok_status: {"description": "OK", "content": ok},
        "400": {"description": "A malformed parameter or message", "content": _json(ERROR)},
        "429": {"description": "More requests than the node takes from one address per second",
                "content": _json(ERROR)},
    }
    for status, description in extra:
        responses[status] = {"description": description, "content": _json(ERROR)}
    return responses


def _get(operation_id, summary, ok, *, parameters=(), extra=(("404", "Nothing by that name"),)):
    return {"get": {"operationId": operation_id, "summary": summary, "tags": [TAG], "parameters": list(parameters),
                    "responses": _responses(ok, extra=extra)}}


def _path(name, description, schema):
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


P = protocol.PREFIX
PATHS = {
    f"{P}hello": _get("p2pHello", "This node: its id, chain (genesis, parameters) and tip", _json(HELLO), extra=()),
    f"{P}peers": _get("p2pPeers", "Peers this node has heard from", _json(PEERS), extra=()),
    f"{P}inv": {"post": {
        "operationId": "p2pAnnounce",
        "summary": "Announce blocks and pending round batches (inventory); the node syncs from the sender",
        "tags": [TAG],
        "requestBody": {"required": True, "content": _json(INVENTORY)},
        "responses": _responses(_json(ACCEPTED), ok_status="202", extra=(
            ("411", "No Content-Length"), ("413", f"A body above {protocol.MAX_REQUEST_BYTES} bytes, refused unread"),
        )),
    }},
    f"{P}headers": _get(
        "p2pHeaders", f"Up to {protocol.MAX_HEADERS} main-chain headers after the first locator hash we hold",
        _json(HEADERS), extra=(),
        parameters=[{"name": "locator", "in": "query", "required": True,
                     "description": f"up to {protocol.MAX_LOCATOR} block hashes, newest first, comma-separated",
                     "schema": {"type": "string", "pattern": "^[0-9a-f]{64}(,[0-9a-f]{64}){0,%d}$" % (protocol.MAX_LOCATOR - 1)}}],
    ),
    f"{P}blocks": _get(
        "p2pBlocks", f"Up to {protocol.MAX_BLOCKS_PER_REQUEST} stored blocks by hash, in the order asked, as far as "
        f"the node holds them and they fit in {protocol.MAX_BLOCK_BYTES} bytes (at least one); ask again for the rest",
        _json(_object({"blocks": {"type": "array", "items": BLOCK, "minItems": 1,
                                  "maxItems": protocol.MAX_BLOCKS_PER_REQUEST}})),
        parameters=[{"name": "hashes", "in": "query", "required": True,
                     "description": f"up to {protocol.MAX_BLOCKS_PER_REQUEST} block hashes, comma-separated",
                     "schema": {"type": "string", "pattern": "^[0-9a-f]{64}(,[0-9a-f]{64}){0,%d}$"
                                % (protocol.MAX_BLOCKS_PER_REQUEST - 1)}}],
    ),
    f"{P}blocks/{{hash}}": _get(
        "p2pBlock", "A stored block (any branch): its 80-byte header and its records", _json(BLOCK),
        parameters=[_path("hash", "the block hash", HEX64)],
    ),
    f"{P}batches": _get("p2pBatches", "The pending round batches this node holds", _json(BATCH_LIST), extra=()),
    f"{P}batches/{{experiment}}/{{round}}": _get(
        "p2pBatch", "A round's batch to mine (the miner adds the coinbase)", _json(BATCH),
        parameters=[_path("experiment", "an experiment id", {**INTEGER, "maximum": protocol.MAX_EXPERIMENT}),
                    _path("round", "a round number", {**INTEGER, "maximum": protocol.MAX_ROUND})],
    ),
    f"{P}blobs/{{sha256}}": _get(
        "p2pBlob", "A model blob by the SHA-256 of its bytes (the receiver hashes it)",
        {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}},
        parameters=[_path("sha256", "the blob's SHA-256", HEX64)],
    ),
}
