import subprocess
import sys

from django.conf import settings

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x8Hq2-very-long-and-random-production-secret-key-0b7c1e9d4a6f3e2d1c0b9a8f7e6d5c4b",
    "DJANGO_ALLOWED_HOSTS": "fedchain.example.org",
}


def run_python(*args, env_overrides, data_dir):
    """`python ARGS` in the project directory with its own data directory and settings from env_overrides (none
    of this test run's own settings variables)."""
    import os

    test_only = ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE", "FEDCHAIN_SQLITE_NAME")
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    env["FEDCHAIN_DATA_DIR"] = str(data_dir)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def run_manage(*args, env_overrides, data_dir):
    return run_python("manage.py", *args, env_overrides=env_overrides, data_dir=data_dir)


def test_deploy_check_is_clean_under_production_variables(tmp_path):
    done = run_manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION, data_dir=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_deploy_check_flags_a_debug_build(tmp_path):
    debug = {**PRODUCTION, "DJANGO_DEBUG": "1"}
    done = run_manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=debug, data_dir=tmp_path)
    assert done.returncode != 0
    assert "DEBUG" in done.stderr + done.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    done = run_manage("check", env_overrides={"DJANGO_DEBUG": "0"}, data_dir=tmp_path)
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in done.stderr
    assert not (tmp_path / "dev_secret_key").exists()


def test_development_generates_a_key_once_and_keeps_it(tmp_path):
    show_key = ("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    first = run_manage(*show_key, env_overrides={}, data_dir=tmp_path)
    second = run_manage(*show_key, env_overrides={}, data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert len(key) >= 50
    assert second.stdout.strip().splitlines()[-1] == key
    assert (tmp_path / "dev_secret_key").read_text().strip() == key


def test_a_malformed_boolean_is_a_clear_error(tmp_path):
    done = run_manage("check", env_overrides={"DJANGO_DEBUG": "maybe"}, data_dir=tmp_path)
    assert done.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in done.stderr


def test_sqlite_runs_in_wal_mode_with_immediate_transactions(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
