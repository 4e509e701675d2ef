"""The node's key directory: outside the data directory, private, one key per node, created on first use."""

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings

from apps.core import keys


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def fresh_keys(tmp_path, settings):
    settings.FEDCHAIN_KEY_DIR = tmp_path / "nested" / "keys"
    return settings.FEDCHAIN_KEY_DIR


def test_the_node_key_is_created_on_first_use_private_and_kept(fresh_keys):
    assert not fresh_keys.exists()
    first = keys.node_id()
    assert mode(fresh_keys) == 0o700
    assert mode(fresh_keys / "node.key") == 0o600
    assert (fresh_keys / "node.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert len(first) == 64 and keys.node_id() == first
    keys._loaded.clear()  # as a new process would: read back from the file
    assert keys.node_id() == first


def test_concurrent_first_uses_agree_on_one_key(fresh_keys):
    def first_use(_):
        return keys.public_key_hex(keys.node_key().public_key())

    keys._loaded.clear()
    with ThreadPoolExecutor(8) as pool:
        assert len(set(pool.map(first_use, range(8)))) == 1
    assert [p.name for p in fresh_keys.iterdir()] == ["node.key"]


def test_signatures_verify_with_the_public_key_only(fresh_keys):
    signature = keys.node_sign(b"message")
    public = keys.public_key_from_hex(keys.node_id())
    assert keys.signature_valid(public, b"message", signature)
    assert not keys.signature_valid(public, b"messagf", signature)
    assert not keys.signature_valid(public, b"message", signature[:-1] + bytes([signature[-1] ^ 1]))
    with pytest.raises(ValueError, match="32 bytes"):
        keys.public_key_from_hex("ab" * 31)


def test_a_key_file_that_is_not_a_key_is_a_clear_error(fresh_keys):
    fresh_keys.mkdir(parents=True)
    (fresh_keys / "node.key").write_text("not a key")
    keys._loaded.clear()
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        keys.node_key()


def test_the_checks_warn_about_a_key_dir_inside_the_data_dir_or_open_to_others(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.FEDCHAIN_KEY_DIR = tmp_path / "keys"
    keys.node_key()
    assert keys.key_dir_problems() == []
    (tmp_path / "keys").chmod(0o755)
    (tmp_path / "keys" / "node.key").chmod(0o644)
    problems = keys.key_dir_problems()
    assert len(problems) == 2 and "mode 0755" in problems[0] and "mode 0644" in problems[1]
    settings.FEDCHAIN_KEY_DIR = tmp_path / "data" / "keys"
    assert "inside the data directory" in keys.key_dir_problems()[0]


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_default_key_dirs_are_per_data_dir_and_outside_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("FEDCHAIN_KEY_DIR", "FEDCHAIN_SQLITE_NAME")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    show = ("shell", "-c", "from django.conf import settings; from apps.core.keys import node_id; "
            "print(settings.FEDCHAIN_KEY_DIR); print(node_id())")
    found = []
    for name in ("node-a", "node-b", "node-a"):
        done = manage(*show, env={**env, "FEDCHAIN_DATA_DIR": str(tmp_path / name)})
        assert done.returncode == 0, done.stderr
        found.append(done.stdout.split()[-2:])
    (dir_a, id_a), (dir_b, id_b), again = found
    assert again == [dir_a, id_a]  # the same data directory finds its key again
    assert dir_a != dir_b and id_a != id_b  # two nodes on one machine: a key each
    assert dir_a.startswith(str(tmp_path / "state" / "fedchain" / "keys"))
    assert not list((tmp_path / "node-a").rglob("node.key"))


def test_check_deploy_warns_when_the_keys_sit_in_the_data_dir(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FEDCHAIN_SQLITE_NAME"}
    env.update(FEDCHAIN_DATA_DIR=str(tmp_path), FEDCHAIN_KEY_DIR=str(tmp_path / "keys"))
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode != 0
    assert "fedchain.W001" in done.stderr + done.stdout and "inside the data directory" in done.stderr + done.stdout
