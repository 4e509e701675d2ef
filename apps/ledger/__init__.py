"""The ledger: a Bitcoin-style proof-of-work chain whose records are the rounds of federated learning.

Pure core (no Django): header.py (80-byte header, SHA-256d, display hex), merkle.py (RFC 6962 tree, RFC 9162
proof verification), pow.py (compact targets, work, midstate nonce search on one or several processes),
records.py (RFC 8785 records and their builders), params.py, retarget.py, genesis.py, checkpoint.py and rules.py
(the rule engine). Django layer, what other apps call: store.py (writes: genesis, checkpoints, batches, blocks,
mining a block), reads.py (the tip, a block checked against its parent, the chain's status), mining.py (mining a
batch while the tip moves), exchange.py (export and import), watch.py (verification in full and the continuous
watcher); models.py, admin.py and the commands verify_chain, export_chain, import_chain and watch_chain.

Choices worth knowing:
- One chain for all experiments. A block's bits are the harder of what the retarget rule requires at its height
  and what its experiment asked for (the coinbase's difficulty_bits); the required target follows block times
  only, and the chain's work counts what the bits say.
- Each experiment round is one block: round 0 carries the experiment record, every round exactly one global
  model record, round r's coinbase commits round r-1's model, and every record of a block names the block's
  experiment and round (so no record can appear twice on the chain).
- Every main block's hash is signed at its height with the node's Ed25519 key (apps/core/keys.py: kept in the
  key directory, outside the data directory, never stored). A public-key signature rather than an HMAC:
  anyone holding the node's public key can check the checkpoints, and checking them needs no secret. A
  re-mined tail or a forged block fails its checkpoint, unless whoever re-mined it could also read the key
  directory: then only the other nodes of the network can tell.
- Blocks are appended on the main chain only. A block whose height was taken meanwhile (a lost mining race) is
  kept as stale. Fork choice by cumulative work applies when importing a chain that diverges from the stored one.
"""
