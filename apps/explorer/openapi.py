"""The explorer API's OpenAPI 3.1 description, as data: served at /api/schema/ and checked against the real
responses by the test suite (schemathesis), so it stays true.

The experiment settings' schema is generated from their definitions (apps/federated/definitions.py), the same
rules the validation applies. Each response shape is written here once and reused wherever the entity appears (a
block, a round, an experiment), as the selectors build each once; the naming (Bitcoin Core's for block header
fields) is explained in the README's "One shape per thing".
"""

from apps.explorer.p2p_schema import PATHS as P2P_PATHS
from apps.federated.config import SETTING_NAMES, ExperimentConfig
from apps.federated.definitions import NAME_LENGTH, definitions

API_VERSION = "1.1.0"
HEX64 = "^[0-9a-f]{64}$"
MAX_PAGE = 100
DEFAULT_PAGE = 20


def _nullable(schema):
    kind = schema["type"]
    return {**schema, "type": [kind, "null"] if isinstance(kind, str) else [*kind, "null"]}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties, *, required=None, description=None):
    schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


DIGEST = {"type": "string", "pattern": HEX64}
INTEGER = {"type": "integer", "minimum": 0}
NUMBER = {"type": "number"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
URL = {"type": "string", "description": "a path on this server"}
TIMESTAMP = {"type": "string", "format": "date-time"}


def _digest(description):
    return {**DIGEST, "description": description}


def _integer(description):
    return {**INTEGER, "description": description}


VIOLATION = _object(
    {
        "height": _integer("the first invalid height; every later block is invalid too"),
        "rule": {**STRING, "description": "the rule it breaks, e.g. pow, merkle, link, fl-continuity"},
        "message": STRING,
    }
)

VALIDITY = _object(
    {
        "valid": BOOLEAN,
        "first_invalid": _nullable(VIOLATION),
        "checked_at": _nullable(
            {**TIMESTAMP, "description": "when the whole chain was last re-checked (null: not yet)"}
        ),
        "checkpoint": {**BOOLEAN, "description": "the tip carries a checkpoint signed with this server's key"},
    },
    description=(
        "The ledger's verdict: its last full re-check of the chain (every hash, root, target and rule "
        "recomputed from the stored bytes) and a fresh check of the tip and its signed checkpoint."
    ),
)

# A block's one shape (apps.ledger.reads.block_payload): the API, the websocket's block events and the network
# page's stale blocks.
BLOCK_PROPERTIES = {
    "hash": _digest("block hash, byte-reversed hex as Bitcoin displays it"),
    "height": INTEGER,
    "version": INTEGER,
    "merkleroot": _digest("RFC 6962 root of the block's records"),
    "time": _integer("header time, seconds since the epoch"),
    "bits": {"type": "string", "pattern": "^[0-9a-f]{8}$", "description": "compact target, hex"},
    "nonce": INTEGER,
    "work_bits": _nullable({**NUMBER, "description": "difficulty in bits, the unit the pages show: log2 of the hashes expected to find a block at this target (12 bits: about 4096 hashes; each bit doubles the work)"}),
    "difficulty": _nullable({**NUMBER, "description": "Bitcoin's difficulty: the pow limit's target divided by this block's target (1 at the pow limit)"}),
    "chainwork": {"type": "string", "pattern": HEX64, "description": "cumulative expected hashes up to this block, hex"},
    "nTx": _integer("number of records"),
    "previousblockhash": _nullable(DIGEST),
    "status": {"type": "string", "enum": ["main", "stale"], "description": "main chain, or a lost mining race kept beside it"},
    "difficulty_bits": _integer("the least proof of work the experiment asked for, in bits (the chain may ask for more)"),
    "hash_rate": _nullable({**NUMBER, "description": "hashes per second the miner reached on it"}),
    "time_to_mine": _nullable({"type": "number", "description": "seconds the miner searched for the nonce"}),
    "experiment": _nullable({"type": "integer", "description": "the experiment whose round the block commits"}),
    "round": _nullable({"type": "integer", "description": "the round the block commits"}),
    "mined_by": _nullable(
        {
            "type": "string",
            "pattern": HEX64,
            "description": "the Ed25519 public key (node id) of the node that mined the block, when a valid signed "
            "claim came with it; null if unknown. Kept beside the block, not part of the chain",
        }
    ),
}

BLOCK_SUMMARY_PROPERTIES = {
    **BLOCK_PROPERTIES,
    "interval": _nullable({"type": "integer", "description": "header time minus the parent's header time"}),
    "valid": {
        **BOOLEAN,
        "description": "false when the block is the chain's first invalid block or stands on it (above it)",
    },
}

RECORD_OBJECT = {
    "type": ["object", "null"],
    "description": "the record, a JSON object with a 'type' (null if the stored bytes are not one: the chain is broken)",
}

RECORD_ENTRY = _object(
    {
        "txid": _digest("SHA-256 of the record's RFC 8785 bytes"),
        "index": _integer("the record's position: its Merkle leaf index"),
        "record": RECORD_OBJECT,
    }
)

BLOCK = _object(
    {
        **BLOCK_SUMMARY_PROPERTIES,
        "header_hex": {"type": "string", "pattern": "^([0-9a-f]{2})*$", "description": "the raw 80 header bytes"},
        "mediantime": _integer("median time of the previous 11 blocks and this one"),
        "confirmations": {"type": "integer", "description": "blocks on top of this one, counting it; -1 if stale"},
        "nextblockhash": _nullable(DIGEST),
        "stale": {**BOOLEAN, "description": "lost a mining race: kept, but not on the main chain"},
        "valid": {
            **BOOLEAN,
            "description": "the block passes the ledger's rules, re-checked now against its parent, and the "
            "chain's last full check found nothing wrong at or below it",
        },
        "violation": _nullable(VIOLATION),
        "records_rechecked": {
            **BOOLEAN,
            "description": "whether `valid` includes the block's records re-checked now; false when they are more "
            "bytes than a view re-checks (then the chain watcher's full checks stand for them)",
        },
        "tx": {"type": "array", "items": RECORD_ENTRY, "description": "a page of the records, in leaf order"},
        "tx_next_after": _nullable({"type": "integer", "description": "pass as `after` for the next page of records"}),
        "tx_next": _nullable(URL),
    }
)

BLOCK_PAGE = _object(
    {
        "blocks": {"type": "array", "items": _ref("BlockSummary")},
        "next_before": _nullable({"type": "integer", "description": "pass as `before` for the next, older page"}),
        "next": _nullable(URL),
    }
)

CHECKPOINT = _object(
    {
        "height": INTEGER,
        "hash": DIGEST,
        "created_at": TIMESTAMP,
        "signature_valid": {**BOOLEAN, "description": "the Ed25519 signature checks with this node's public key"},
        "on_chain": {**BOOLEAN, "description": "the block at that height still has that hash"},
        "block_valid": {
            **BOOLEAN,
            "description": "the block it names is on the chain and neither the first invalid block nor above it",
        },
    }
)

FORK_POINT = _object({"height": INTEGER, "hash": DIGEST, "mined_by": BLOCK_PROPERTIES["mined_by"]})

FORK = _object(
    {
        "fork": {**_nullable(FORK_POINT), "description": "the main block the branch stands on (null: not stored)"},
        "length": _integer("stale blocks on the branch"),
        "blocks": {
            "type": "array",
            "description": "the branch, oldest first, each beside the main block at its height",
            "items": _object(
                {
                    **FORK_POINT["properties"],
                    "experiment": BLOCK_PROPERTIES["experiment"],
                    "round": BLOCK_PROPERTIES["round"],
                    "main": {**_nullable(FORK_POINT), "description": "the main block at that height (null: none yet)"},
                }
            ),
        },
    },
    description="a side branch of stale blocks beside the main chain",
)

TIP_SEEN = _object({"height": INTEGER, "hash": DIGEST, "chainwork": {"type": "string", "pattern": HEX64}})

NETWORK = _object(
    {
        "node": _digest("this node's id: its Ed25519 public key"),
        "tip": _nullable(_object({"height": INTEGER, "hash": DIGEST})),
        "peers": {
            "type": "array",
            "description": "the peers this node talks to and what it last saw of them (their claims, not checked)",
            "items": _object(
                {
                    "url": STRING,
                    "node": {"type": "string", "description": "the Ed25519 public key it names itself by ('' unknown)"},
                    "source": {"type": "string", "enum": ["config", "manual", "learned"]},
                    "tip_height": _nullable(INTEGER),
                    "tip_hash": STRING,
                    "chainwork": STRING,
                    "latency_ms": _nullable(NUMBER),
                    "last_seen": _nullable(TIMESTAMP),
                    "score": {**NUMBER, "description": "misbehaviour points (decaying); banned at 100"},
                    "banned": BOOLEAN,
                    "error": STRING,
                }
            ),
        },
        "disagreements": {
            "type": "array",
            "description": "peers seen in the last minute whose tip is not on this node's main chain although they "
            "claim at least as much work",
            "items": _object({"peer": STRING, "tip_height": _nullable(INTEGER), "tip_hash": STRING, "heavier": BOOLEAN}),
        },
        "reorgs": {
            "type": "array",
            "description": "the newest reorganisations (and repairs from peers), newest first",
            "items": _object(
                {
                    "seq": _integer("the outbox event that recorded it"),
                    "at": TIMESTAMP,
                    "repair": BOOLEAN,
                    "fork_height": INTEGER,
                    "old_tip": TIP_SEEN,
                    "new_tip": TIP_SEEN,
                    "left": _integer("main blocks that became stale (or were set aside by a repair)"),
                    "joined": _integer("blocks of the heavier branch that became main"),
                }
            ),
        },
        "stale_count": INTEGER,
        "stale": {
            "type": "array",
            "description": "the newest stale blocks, as their block events describe them",
            "items": _object(BLOCK_PROPERTIES),
        },
        "offences": {
            "type": "array",
            "description": "the newest refused peer messages (what scored a peer down)",
            "items": _object({"peer": STRING, "offence": STRING, "detail": STRING, "at": TIMESTAMP}),
        },
    },
    description="this node in its network of FedChain nodes",
)

CHAIN = _object(
    {
        "chain": STRING,
        "blocks": _nullable({"type": "integer", "description": "height of the tip (null: the chain is empty)"}),
        "bestblockhash": _nullable(DIGEST),
        "time": _nullable({"type": "integer"}),
        "mediantime": _nullable({"type": "integer"}),
        "bits": _nullable({"type": "string", "pattern": "^[0-9a-f]{8}$"}),
        "work_bits": _nullable(NUMBER),
        "difficulty": _nullable(NUMBER),
        "chainwork": {"type": "string", "pattern": HEX64},
        "stale_blocks": INTEGER,
        "validity": _ref("Validity"),
        "checkpoint": _nullable(CHECKPOINT),
        "forks": {"type": "array", "items": FORK, "description": "the newest side branches (at most 50 stale blocks)"},
    }
)

TX = _object(
    {
        "txid": DIGEST,
        "record": RECORD_OBJECT,
        "hex": {"type": "string", "pattern": "^([0-9a-f]{2})+$", "description": "the record's RFC 8785 bytes"},
        "type": STRING,
        "index": _integer("position in the block: the Merkle leaf index"),
        "blockhash": DIGEST,
        "height": INTEGER,
        "blocktime": INTEGER,
        "confirmations": {"type": "integer"},
    }
)

PROOF = _object(
    {
        "txid": DIGEST,
        "blockhash": DIGEST,
        "height": INTEGER,
        "merkleroot": _digest("the root committed in the block header"),
        "leaf_hash": _digest("SHA-256(0x00 || record bytes)"),
        "leaf_index": INTEGER,
        "tree_size": INTEGER,
        "audit_path": {"type": "array", "items": DIGEST, "description": "RFC 9162 inclusion proof, leaf to root"},
        "verified": {**BOOLEAN, "description": "this server's RFC 9162 check of the proof against the header's root"},
    }
)

# A round's one shape (apps.federated.selectors.ROUND_FIELDS): the API, the websocket's round events,
# `run_experiment --json` and the downloads all show a round so.
ROUND_PROPERTIES = {
    "experiment": INTEGER,
    "round": INTEGER,
    "global_model": _digest("SHA-256 of the global model's parameter blob"),
    "loss": {**NUMBER, "description": "the global model's loss on the test split"},
    "accuracy": {**NUMBER, "description": "the global model's accuracy on the test split"},
    "baseline_loss": _nullable(NUMBER),
    "baseline_accuracy": _nullable(NUMBER),
    "clients_sampled": INTEGER,
    "clients_dropped": INTEGER,
    "clients_accepted": INTEGER,
    "train_seconds": {**NUMBER, "description": "sum of the clients' local training times"},
    "aggregate_seconds": NUMBER,
    "evaluate_seconds": NUMBER,
    "epsilon": _nullable({**NUMBER, "description": "privacy spent after this round (dp only), at dp_delta"}),
    "true_positive_rate": _nullable(
        {**NUMBER, "description": "share of the round's malicious updates the aggregator rejected"}
    ),
    "false_positive_rate": _nullable(
        {**NUMBER, "description": "share of the round's honest updates the aggregator rejected"}
    ),
}

BALANCES = _object(
    {
        "experiment": INTEGER,
        "rewards": {**BOOLEAN, "description": "whether the experiment pays rewards"},
        "clients": {"type": "array", "items": _object({"client": INTEGER, "balance": NUMBER})},
        "miners": {"type": "array", "items": _object({"node": _digest("the miner node's public key id"),
                                                       "balance": NUMBER})},
        "total": NUMBER,
    },
    description="reward balances as the experiment's main-chain reward records add them up",
)

CLIENT_HISTORY = _object(
    {
        "experiment": INTEGER,
        "client": INTEGER,
        "shard_size": INTEGER,
        "label_counts": {"type": "array", "items": INTEGER},
        "malicious": {**BOOLEAN, "description": "runs the experiment's attack (known to the simulation, not on the chain)"},
        "balance": NUMBER,
        "rounds": {"type": "array", "items": _object({
            "round": INTEGER,
            "samples": INTEGER,
            "accepted": BOOLEAN,
            "reason": STRING,
            "train_loss": _nullable(NUMBER),
            "update": _digest("SHA-256 of the update's bytes"),
            "reward": _nullable(NUMBER),
            "balance": NUMBER,
        })},
    }
)

EXPERIMENT_SUMMARY_PROPERTIES = {
    "id": INTEGER,
    "name": STRING,
    "status": {"type": "string", "enum": ["queued", "running", "paused", "finished", "failed", "cancelled"]},
    "settings": {"type": "object", "description": "the experiment's settings (data set, clients, aggregator, ...)"},
    "kind": {"type": "string", "enum": ["simulated", "flower"], "description": "simulated by FedChain, or an external Flower federation"},
    "external": {
        "type": "object",
        "description": "an external federation's layers, strategy and re-derivation rule (empty for simulated ones)",
    },
    "rounds_recorded": _integer("rounds recorded so far, round 0 (the initial model) included"),
    "created_at": TIMESTAMP,
    "started_at": _nullable(TIMESTAMP),
    "finished_at": _nullable(TIMESTAMP),
    "error": STRING,
    "url": URL,
}

EXPERIMENT = _object(
    {
        **EXPERIMENT_SUMMARY_PROPERTIES,
        "metrics": {"type": "array", "items": _object(ROUND_PROPERTIES), "description": "its rounds, oldest first"},
    }
)

EXPERIMENT_PAGE = _object(
    {
        "experiments": {"type": "array", "items": _object(EXPERIMENT_SUMMARY_PROPERTIES)},
        "next_before": _nullable(INTEGER),
        "next": _nullable(URL),
    }
)

LEDGER_REF = _nullable(
    _object(
        {"txid": DIGEST, "height": INTEGER, "blockhash": DIGEST},
        description="the record on the main chain that commits this value (null: not mined yet)",
    )
)

UPDATE = _object(
    {
        "client": INTEGER,
        "samples": INTEGER,
        "update": _digest("SHA-256 of the update's bytes"),
        "train_loss": _nullable(NUMBER),
        "accepted": BOOLEAN,
        "reason": STRING,
        "record": LEDGER_REF,
    }
)

ROUND = _object(
    {
        **ROUND_PROPERTIES,
        "model_url": URL,
        "created_at": TIMESTAMP,
        "record": LEDGER_REF,
        "valid": _nullable(
            {**BOOLEAN, "description": "false when the round's block is, or stands on, an invalid block; null: not mined yet"}
        ),
        "updates": {"type": "array", "items": UPDATE},
    }
)

ROUND_LIST = _object(
    {
        "experiment": INTEGER,
        "rounds": {"type": "array", "items": _ref("Round"), "description": "oldest first"},
        "next_after": {"type": ["integer", "null"], "description": "pass as `after` for the next page; null on the last"},
        "next": _nullable(URL),
    }
)

ERROR = _object(
    {
        "error": {**STRING, "description": "a short code, e.g. not_found, invalid_height"},
        "detail": {**STRING, "description": "what is wrong, in a sentence"},
    }
)


SETTINGS_ERROR = _object(
    {
        "error": {**STRING, "description": "invalid_settings, or bad_json for a body that is not a JSON object"},
        "detail": STRING,
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": STRING},
            "description": "messages per setting (invalid_settings only)",
        },
    },
    required=["error", "detail"],
)

_DEFAULTS = ExperimentConfig().as_dict()


def _setting_schema(setting, default):
    """A setting's JSON schema from its definition: its type, bounds or choices, help and default."""
    description = setting.help + "".join(
        f"; applies with {name} {' or '.join(map(str, values))}" for name, values in setting.applies_when.items()
    )
    return {**setting.accepts.json_schema(), "default": default, "description": description}


EXPERIMENT_SETTINGS = {
    "type": "object",
    "properties": {
        "name": {**STRING, "maxLength": NAME_LENGTH, "description": "a label for people"},
        **{setting.name: _setting_schema(setting, _DEFAULTS[setting.name]) for setting in definitions(SETTING_NAMES)},
    },
    "additionalProperties": False,
    "description": (
        "The settings of `manage.py run_experiment`; missing ones take their defaults. The server checks them "
        "together (e.g. Krum's clients per round) and answers 400 with messages per setting."
    ),
}


def _json(schema_name):
    return {"application/json": {"schema": _ref(schema_name)}}


def _refusal(description):
    return {"description": description, "content": _json("Error")}


def _operation(operation_id, summary, ok, *, parameters=(), ok_content=None, description=None):
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": list(parameters),
        "responses": {
            "200": {"description": "OK", "content": ok_content or _json(ok)},
            "400": _refusal("A malformed parameter"),
            "404": _refusal("Nothing by that name"),
        },
    }
    if description:
        operation["description"] = description
    return {"get": operation}


# Writes: a logged-in session with Django's CSRF token, or HTTP Basic credentials, of a user with the permission.
WRITE_SECURITY = [{"session": [], "csrfToken": []}, {"basic": []}]
SECURITY_SCHEMES = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": "the session of a user logged in at /admin/login/",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": (
            "Django's CSRF protection: with a session, send the `csrftoken` cookie's value in this header (and "
            "the cookie itself); without it a session write is refused with 403 csrf_failed."
        ),
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": (
            "An account's username and password, for scripts. Such requests skip the CSRF check only "
            "when they carry no session cookie and no Origin header (browsers send one with every POST)."
        ),
    },
}


def _write_operation(operation_id, summary, ok, *, ok_status="200", parameters=(), request_body=None, extra=()):
    """A POST for users with a permission: anonymous requests get 401 (with a Basic challenge), others 403."""
    responses = {
        ok_status: {"description": "Done: the experiment as GET returns it", "content": _json(ok)},
        "400": _refusal("A malformed parameter"),
        "401": {
            "description": "No credentials, or wrong ones",
            "headers": {"WWW-Authenticate": {"schema": STRING, "description": 'Basic realm="FedChain API"'}},
            "content": _json("Error"),
        },
        "403": _refusal("The user lacks the permission, or (session) the CSRF token is missing or wrong"),
        **dict(extra),
    }
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": list(parameters),
        "security": WRITE_SECURITY,
        "responses": responses,
    }
    if request_body is not None:
        operation["requestBody"] = request_body
    return {"post": operation}


# External federations (Flower): a user's API token with the "flower" scope (apps.tokens; `manage.py api_token`).
TOKEN_SECURITY = [{"apiToken": []}]
FLOWER_DECLARATION = {
    "type": "object",
    "properties": {
        "name": {**STRING, "maxLength": NAME_LENGTH},
        "key": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "a repeated key returns the same experiment"},
        "rounds": {"type": "integer", "minimum": 0, "description": "rounds the run will have (0: not known)"},
        "layers": {"type": "array", "items": {"type": "object"}, "description": "name, shape and dtype of each layer"},
        "strategy": {"type": "object", "description": "name, module, flower (version) and settings of the strategy"},
    },
    "required": ["layers", "strategy"],
}
FLOWER_DECLARED = _object(
    {"id": INTEGER, "name": STRING, "rule": STRING, "created": {"type": "boolean"}, "url": STRING},
    required=["id", "rule", "created"],
)
FLOWER_ROUND_RECORDED = _object(
    {"experiment": INTEGER, "round": INTEGER, "global_model": STRING, "created": {"type": "boolean"}},
    required=["experiment", "round", "global_model", "created"],
)


def _flower_operation(operation_id, summary, ok_schema, *, parameters=(), request_body, extra=()):
    """A POST authenticated by an API token; refusals store nothing."""
    done = {"description": "Recorded", "content": {"application/json": {"schema": ok_schema}}}
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": list(parameters),
            "security": TOKEN_SECURITY,
            "requestBody": request_body,
            "responses": {
                "200": {**done, "description": "Already recorded: the same declaration key or the same round again"},
                "201": done,
                "400": _refusal("A malformed or invalid body (a wrong hash, shape, NaN, an unnamed blob, ...)"),
                "401": {
                    "description": "No API token, an unknown or revoked one, or one without the flower scope",
                    "headers": {"WWW-Authenticate": {"schema": STRING, "description": 'Bearer realm="FedChain API"'}},
                    "content": _json("Error"),
                },
                "413": _refusal("The body is larger than FEDCHAIN_FLOWER_MAX_UPLOAD"),
                **dict(extra),
            },
        }
    }


def _lifecycle_operation(operation_id, summary, from_statuses):
    return _write_operation(
        operation_id,
        f"{summary} (only a {' or '.join(from_statuses)} experiment)",
        "Experiment",
        parameters=[EXPERIMENT_ID],
        extra=[
            ("404", _refusal("No experiment with that id")),
            ("409", _refusal("The experiment's status does not allow it (error: status_conflict)")),
        ],
    )


def _path_parameter(name, description, schema):
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _query_parameter(name, description, schema):
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


BLOCK_REF = _path_parameter(
    "ref",
    "a height or a block hash",
    {"type": "string", "pattern": "^([0-9]{1,18}|[0-9a-fA-F]{64})$"},
)
TXID = _path_parameter("txid", "a record's txid", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"})
EXPERIMENT_ID = _path_parameter("id", "an experiment id", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1})
CLIENT_INDEX = _path_parameter("index", "a client's index in the experiment", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1})
SHA256 = _path_parameter("sha256", "a model's SHA-256", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"})
LIMIT = _query_parameter("limit", f"page size, 1 to {MAX_PAGE}", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE})


def _after(what):
    return _query_parameter("after", f"keyset cursor: the page starts after this {what}", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1})


def _before(what):
    return _query_parameter(
        "before", f"keyset cursor: only {what} below this value", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    )


SCHEMA = {
    "openapi": "3.1.0",
    "info": {
        "title": "FedChain explorer API",
        "version": API_VERSION,
        "description": (
            "Access to the FedChain ledger and the federated learning it records. Anyone may read (GET); users with "
            "Django's permissions may create experiments (federated.add_experiment) and pause, resume or cancel "
            "them (federated.change_experiment) (POST, authenticated by a session with "
            "the X-CSRFToken header, or by HTTP Basic). Errors are JSON objects {error, detail}: 400 for a "
            "malformed parameter or body, 401 without credentials, 403 for a user without the permission or a failed CSRF "
            "check, 404 for something unknown, 409 for a change the experiment's status does not allow. Lists "
            "are paginated by keyset: pass a page's `next_before` as `before`."
        ),
    },
    "paths": {
        "/api/chain/": _operation("getChain", "The chain's tip, work, validity and last checkpoint", "Chain"),
        "/api/network/": _operation(
            "getNetwork", "This node's peers, where they disagree with it, stale blocks and reorganisations", "Network"
        ),
        "/api/blocks/": _operation(
            "listBlocks",
            "Main-chain blocks, newest first",
            "BlockPage",
            parameters=[_before("heights"), LIMIT],
        ),
        "/api/blocks/{ref}/": _operation(
            "getBlock",
            "A block by height (main chain) or hash (stale blocks too), with a page of its records",
            "Block",
            parameters=[
                BLOCK_REF,
                _after("leaf index"),
                LIMIT,
            ],
        ),
        "/api/tx/{txid}/": _operation("getRecord", "A record and the block that holds it", "Record", parameters=[TXID]),
        "/api/tx/{txid}/proof/": _operation(
            "getRecordProof", "The record's Merkle inclusion proof, verified", "Proof", parameters=[TXID]
        ),
        "/api/experiments/": {
            **_operation(
                "listExperiments", "Experiments, newest first", "ExperimentPage", parameters=[_before("ids"), LIMIT]
            ),
            **_write_operation(
                "createExperiment",
                "Creates an experiment and starts it in the worker processes",
                "Experiment",
                ok_status="201",
                request_body={"required": True, "content": _json("ExperimentSettings")},
                extra=[("400", {"description": "A body that is not a JSON object, or invalid settings (nothing "
                                "is created)", "content": _json("SettingsError")})],
            ),
        },
        "/api/experiments/{id}/pause/": _lifecycle_operation(
            "pauseExperiment", "Pauses: no new training starts; training already running finishes", ["running"]
        ),
        "/api/experiments/{id}/resume/": _lifecycle_operation(
            "resumeExperiment", "Resumes a paused experiment", ["paused"]
        ),
        "/api/experiments/{id}/cancel/": _lifecycle_operation(
            "cancelExperiment",
            "Cancels: its training stops; rounds already recorded are still mined",
            ["queued", "running", "paused"],
        ),
        "/api/experiments/{id}/": _operation(
            "getExperiment", "An experiment: status, settings and per-round metrics", "Experiment",
            parameters=[EXPERIMENT_ID],
        ),
        "/api/experiments/{id}/rounds/": _operation(
            "listRounds",
            "An experiment's recorded rounds with their updates, oldest first, a page at a time (a page also "
            "stops at about 2,000 updates)",
            "RoundList",
            parameters=[
                EXPERIMENT_ID,
                _after("round number"),
                LIMIT,
            ],
        ),
        "/api/experiments/{id}/balances/": _operation(
            "getBalances", "An experiment's reward balances, from its main-chain reward records", "Balances",
            parameters=[EXPERIMENT_ID],
        ),
        "/api/experiments/{id}/clients/{index}/": _operation(
            "getClient", "One client's updates round by round, with its rewards and balance", "ClientHistory",
            parameters=[EXPERIMENT_ID, CLIENT_INDEX],
        ),
        "/api/models/{sha256}/": _operation(
            "getModel",
            "A model's parameter blob",
            None,
            parameters=[
                SHA256,
                _query_parameter(
                    "format",
                    "fcmp (default): the blob itself, whose SHA-256 the chain records (its layout is in the README); "
                    "npz: the same arrays as a NumPy .npz file (arr_0, arr_1, ... float64), for convenience",
                    {"type": "string", "enum": ["fcmp", "npz"]},
                ),
            ],
            ok_content={"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}},
            description="The bytes themselves, so anyone can hash them and compare with the chain.",
        ),
        "/api/flower/experiments/": _flower_operation(
            "declareFlowerExperiment",
            "Declares an external Flower federation: its layers and strategy (ChainRecorder does it)",
            FLOWER_DECLARED,
            request_body={"required": True, "content": {"application/json": {"schema": FLOWER_DECLARATION}}},
        ),
        "/api/flower/experiments/{id}/rounds/": _flower_operation(
            "submitFlowerRound",
            "Submits a round of an external federation: its JSON and its blobs in one body (b\"FCRD\", the JSON's "
            "length as u32 LE, {\"round\": ..., \"blobs\": [[sha256, size], ...]}, then each blob)",
            FLOWER_ROUND_RECORDED,
            parameters=[EXPERIMENT_ID],
            request_body={
                "required": True,
                # Also accepted as application/vnd.fedchain.flower-round, which ChainRecorder sends.
                "content": {"application/octet-stream": {"schema": {
                    "type": "string", "contentMediaType": "application/octet-stream",
                }}},
            },
            extra=[
                ("403", _refusal("The experiment was declared by another user")),
                ("404", _refusal("No experiment with that id")),
                ("409", _refusal("Not the round the experiment expects next, or a different one already recorded")),
            ],
        ),
        **P2P_PATHS,
        "/api/schema/": _operation(
            "getSchema",
            "This description",
            None,
            ok_content={"application/json": {"schema": {"type": "object"}}},
        ),
    },
    "components": {
        "securitySchemes": {
            **SECURITY_SCHEMES,
            "apiToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "a user's API token (fct_...), created in the admin or with `manage.py api_token create`",
            },
        },
        "schemas": {
            "Error": ERROR,
            "SettingsError": SETTINGS_ERROR,
            "ExperimentSettings": EXPERIMENT_SETTINGS,
            "Validity": VALIDITY,
            "Chain": CHAIN,
            "Network": NETWORK,
            "BlockSummary": _object(BLOCK_SUMMARY_PROPERTIES),
            "BlockPage": BLOCK_PAGE,
            "Block": BLOCK,
            "Record": TX,
            "Proof": PROOF,
            "Experiment": EXPERIMENT,
            "ExperimentPage": EXPERIMENT_PAGE,
            "Round": ROUND,
            "Balances": BALANCES,
            "ClientHistory": CLIENT_HISTORY,
            "RoundList": ROUND_LIST,
        }
    },
}
