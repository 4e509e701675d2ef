"""The live channel's wire protocol: what a browser may send, what the server sends back.

Server to client, one JSON object per text frame:
  {"type": "snapshot", "seq": S, "data": {...}}    the whole state, at least as new as event S
  {"seq": N, "type": <event type>, "experiment": id|null, "data": {...}}    one outbox event
Events arrive in strictly increasing seq. A client applies them idempotently (keyed by what they
describe), so an event already reflected in a snapshot does no harm.

Client to server: at most one message, right after connecting:
  {"type": "resume", "after": N}    send exactly the events after seq N
  {"type": "snapshot"}              start from a fresh snapshot (also what a silent client gets)
Anything else closes the connection with CLOSE_INVALID_MESSAGE.
"""

import json
import math
from dataclasses import dataclass

MAX_CLIENT_MESSAGE_CHARS = 200
MAX_SEQ = 2**63 - 1

CLOSE_INVALID_MESSAGE = 4400
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_CONNECTIONS = 4429
CLOSE_SERVER_ERROR = 1011

# Events the overview stream leaves out: one per client per round is detail for the experiment page.
OVERVIEW_EXCLUDED_TYPES = frozenset({"client_update"})


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class Hello:
    """The client's opening request: resume after a seq, or None for a fresh snapshot."""

    after: int | None = None


def parse_client_message(text=None, binary=None):
    """Validates one frame from a client strictly: shape, types and size. Raises ProtocolError."""
    if binary is not None or text is None:
        raise ProtocolError("only text frames are accepted")
    if len(text) > MAX_CLIENT_MESSAGE_CHARS:
        raise ProtocolError(f"message longer than {MAX_CLIENT_MESSAGE_CHARS} characters")
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    kind = message.get("type")
    if kind == "snapshot" and message.keys() == {"type"}:
        return Hello()
    if kind == "resume" and message.keys() == {"type", "after"}:
        after = message["after"]
        # bool is an int in Python; a client sending true means something else.
        if type(after) is not int or not 0 <= after <= MAX_SEQ:
            raise ProtocolError("resume.after must be an integer sequence number >= 0")
        return Hello(after=after)
    raise ProtocolError('expected {"type": "resume", "after": <seq>} or {"type": "snapshot"}')


@dataclass(frozen=True)
class Stream:
    """Which outbox events one websocket receives: all of the overview's, or one experiment's."""

    experiment_id: int | None = None

    def wants(self, event_type, event_experiment_id):
        if self.experiment_id is None:
            return event_type not in OVERVIEW_EXCLUDED_TYPES
        # Events about no experiment in particular (chain status, say) concern every experiment page.
        return event_experiment_id is None or event_experiment_id == self.experiment_id


def encode(message):
    """JSON text a browser can parse: a diverged loss (inf, NaN) becomes null instead of invalid JSON."""
    try:
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(finite(message), separators=(",", ":"), allow_nan=False)


def finite(value):
    """The value with every non-finite float replaced by None (JSON has no inf or NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def snapshot_message(seq, data):
    return encode({"type": "snapshot", "seq": seq, "data": data})
