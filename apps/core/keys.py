"""The node's keys, kept in a key directory outside the data directory (settings.FEDCHAIN_KEY_DIR).

Whoever can write the database (or read the data directory) must not be able to read these keys: a key that
sits beside the database protects nothing against the person who can edit it. The directory is created 0700
and every key file 0600, on first use.

`node.key` is the node's Ed25519 key (PKCS#8 PEM, unencrypted, readable by `openssl pkey`). Its public key
names the node on the network (`node_id()`: the 32 raw public-key bytes in hex) and signs the chain's
checkpoints, which anyone holding the public key can verify.
"""

import os
import stat
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

NODE_KEY_FILE = "node.key"
DIR_MODE = 0o700
FILE_MODE = 0o600

_lock = threading.Lock()
_loaded: dict[Path, Ed25519PrivateKey] = {}


def key_dir() -> Path:
    """The key directory, created 0700 when it does not exist yet."""
    path = Path(settings.FEDCHAIN_KEY_DIR)
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        path.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def _create_private_file(path: Path, data: bytes) -> None:
    """Writes `data` to `path` (0600) unless the file exists; a concurrent first run keeps exactly one key,
    and nobody ever reads a half-written file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)  # fails if another process created the key first
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def node_key() -> Ed25519PrivateKey:
    """The node's Ed25519 private key, created on first use."""
    path = key_dir() / NODE_KEY_FILE
    with _lock:
        key = _loaded.get(path)
        if key is not None:
            return key
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _create_private_file(path, pem)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path} is not an unencrypted PEM private key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
        _loaded[path] = key
        return key


def node_public_key() -> Ed25519PublicKey:
    return node_key().public_key()


def public_key_hex(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def node_id() -> str:
    """The node's name on the network: its Ed25519 public key, 64 hex digits."""
    return public_key_hex(node_public_key())


def public_key_from_hex(value: str) -> Ed25519PublicKey:
    """Raises ValueError for anything but 64 hex digits of an Ed25519 public key."""
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a hex-encoded Ed25519 public key") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def node_sign(message: bytes) -> bytes:
    """An Ed25519 signature (64 bytes) of `message` with the node key."""
    return node_key().sign(message)


def signature_valid(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def key_dir_problems() -> list[str]:
    """Why the keys might be readable by whoever can read or write the data directory (empty: no reason known).
    Reads only: nothing is created."""
    problems = []
    keys = Path(settings.FEDCHAIN_KEY_DIR).resolve()
    data = Path(settings.DATA_DIR).resolve()
    if keys == data or keys.is_relative_to(data):
        problems.append(
            f"the key directory {keys} is inside the data directory {data}: whoever can read the data directory "
            "(a database backup, a copy of the volume) can forge the chain's checkpoints. Set FEDCHAIN_KEY_DIR "
            "to a directory outside it."
        )
    if keys.is_dir():
        mode = stat.S_IMODE(keys.stat().st_mode)
        if mode & 0o077:
            problems.append(f"the key directory {keys} is accessible to other users (mode {mode:04o}); make it 0700")
        node_file = keys / NODE_KEY_FILE
        if node_file.exists():
            mode = stat.S_IMODE(node_file.stat().st_mode)
            if mode & 0o077:
                problems.append(f"{node_file} is readable by other users (mode {mode:04o}); make it 0600")
    return problems
