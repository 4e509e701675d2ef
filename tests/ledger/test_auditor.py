"""An outside auditor re-checks an exported chain with nothing but hashlib and an RFC 8785 encoder.

Deliberately imports nothing of FedChain's: the file format alone must be enough.
"""

import hashlib
import io
import json

import pytest
import rfc8785
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def sha256(data):
    return hashlib.sha256(data).digest()


def mth(leaves):
    """RFC 6962 Merkle tree hash."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def compact_target(bits):
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    assert not bits & 0x00800000, "negative target"
    return mantissa >> 8 * (3 - exponent) if exponent <= 3 else mantissa << 8 * (exponent - 3)


def audit(export):
    """Returns the problems found, as (height, what) pairs; an empty list means the chain checks out."""
    problems = []
    previous = bytes(32)
    for expected_height, block in enumerate(export["blocks"]):
        height = block["height"]
        if height != expected_height:
            problems.append((expected_height, "height"))
        header = bytes.fromhex(block["header_hex"])
        if len(header) != 80:
            problems.append((height, "header length"))
            continue
        digest = sha256(sha256(header))
        if digest[::-1].hex() != block["hash"]:
            problems.append((height, "hash"))
        if header[4:36] != previous:
            problems.append((height, "previous hash"))
        leaves = [rfc8785.dumps(record) for record in block["records"]]
        if mth(leaves) != header[36:68]:
            problems.append((height, "merkle root"))
        bits = int.from_bytes(header[72:76], "little")
        if int.from_bytes(digest, "little") > compact_target(bits):
            problems.append((height, "proof of work"))
        coinbase = block["records"][0]
        if coinbase.get("type") != "coinbase" or coinbase.get("height") != height:
            problems.append((height, "coinbase"))
        previous = digest
    return problems


def exported():
    out = io.StringIO()
    call_command("export_chain", "-", stdout=out)
    return json.loads(out.getvalue())


def test_an_exported_chain_checks_out_with_hashlib_and_rfc8785_alone(chain):
    export = exported()
    assert len(export["blocks"]) == 9
    assert audit(export) == []


def test_the_auditor_catches_an_edited_record_and_a_rewritten_header(chain):
    export = exported()
    export["blocks"][5]["records"][2]["metrics"]["loss"] = 0.0
    assert audit(export) == [(5, "merkle root")]
    export = exported()
    header = bytearray.fromhex(export["blocks"][3]["header_hex"])
    header[76] ^= 1  # the nonce
    export["blocks"][3]["header_hex"] = header.hex()
    assert (3, "hash") in audit(export) and (4, "previous hash") in audit(export)
