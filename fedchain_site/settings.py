"""FedChain settings, read from the environment.

The defaults run everything on one machine: SQLite, Huey on SQLite, an in-process channel layer.
DATABASE_URL and REDIS_URL scale it out to PostgreSQL and Redis without code changes.
"""

import hashlib
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use 1/0, true/false, yes/no or on/off.")


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None


def env_list(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)
DATA_DIR = Path(env_str("FEDCHAIN_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key():
    key = env_str("DJANGO_SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG=0 FedChain needs a real secret key: "
            "set DJANGO_SECRET_KEY to a long random string (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
        )
    # A development key, kept in the data directory so sessions survive a restart.
    path = DATA_DIR / "dev_secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])



def _default_key_dir():
    """A key directory of this data directory's own, outside it (under the user's XDG state directory), so
    several nodes on one machine each get theirs and nothing in the data directory reveals the keys."""
    state = Path(env_str("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(DATA_DIR).encode()).hexdigest()[:16]
    return state / "fedchain" / "keys" / f"{DATA_DIR.name}-{digest}"


# The node's keys (apps/core/keys.py): its Ed25519 node key, which names the node and signs the chain's
# checkpoints. Created on first use (the directory 0700, the files 0600); never inside the data directory.
FEDCHAIN_KEY_DIR = Path(env_str("FEDCHAIN_KEY_DIR") or _default_key_dir()).resolve()
# Only read when upgrading checkpoints signed by an earlier version (HMAC-SHA256 under this key, or under the
# secret key when it was not set): they are re-signed with the node key once their HMAC verifies.
FEDCHAIN_CHECKPOINT_KEY = env_str("FEDCHAIN_CHECKPOINT_KEY")

# --- Ledger (chain parameters: every node validating the same chain must use the same values) ---
FEDCHAIN_POW_LIMIT_BITS = env_int("FEDCHAIN_POW_LIMIT_BITS", 8)  # easiest difficulty: leading zero bits
FEDCHAIN_RETARGET_INTERVAL = env_int("FEDCHAIN_RETARGET_INTERVAL", 20)  # blocks between difficulty adjustments
FEDCHAIN_TARGET_SPACING = env_int("FEDCHAIN_TARGET_SPACING", 1)  # seconds aimed for between blocks
FEDCHAIN_MAX_BLOCK_RECORDS = env_int("FEDCHAIN_MAX_BLOCK_RECORDS", 10_000)
FEDCHAIN_MAX_RECORD_BYTES = env_int("FEDCHAIN_MAX_RECORD_BYTES", 64 * 1024)
# A Flower round's upload (its client updates and aggregate, as blobs): larger bodies are refused unread.
FEDCHAIN_FLOWER_MAX_UPLOAD = env_int("FEDCHAIN_FLOWER_MAX_UPLOAD", 64 * 1024 * 1024)
# A Flower round uploads one blob per client update plus its aggregate (flower.MAX_UPDATES_PER_ROUND + 1).
DATA_UPLOAD_MAX_NUMBER_FILES = 1001
# How often `manage.py watch_chain` re-checks the stored chain (milliseconds).
FEDCHAIN_WATCH_INTERVAL_MS = env_int("FEDCHAIN_WATCH_INTERVAL_MS", 500)
# The largest chain export `import_chain` reads (bytes); it is read one block at a time.
FEDCHAIN_IMPORT_MAX_BYTES = env_int("FEDCHAIN_IMPORT_MAX_BYTES", 512 * 1024 * 1024)
# Share of each interval the watcher spends on its full pass over the chain, walked a slice at a time (percent).
FEDCHAIN_WATCH_FULL_PASS_PERCENT = env_int("FEDCHAIN_WATCH_FULL_PASS_PERCENT", 2)
if not 1 <= FEDCHAIN_POW_LIMIT_BITS <= 64 or FEDCHAIN_RETARGET_INTERVAL < 2 or FEDCHAIN_TARGET_SPACING < 1:
    raise ImproperlyConfigured(
        "FEDCHAIN_POW_LIMIT_BITS must be 1 to 64, FEDCHAIN_RETARGET_INTERVAL at least 2 and "
        "FEDCHAIN_TARGET_SPACING at least 1."
    )
if not 0 <= FEDCHAIN_WATCH_FULL_PASS_PERCENT <= 100:
    raise ImproperlyConfigured("FEDCHAIN_WATCH_FULL_PASS_PERCENT must be 0 to 100.")
if FEDCHAIN_MAX_BLOCK_RECORDS < 2 or FEDCHAIN_MAX_RECORD_BYTES < 256 or FEDCHAIN_WATCH_INTERVAL_MS < 50:
    raise ImproperlyConfigured(
        "FEDCHAIN_MAX_BLOCK_RECORDS must be at least 2, FEDCHAIN_MAX_RECORD_BYTES at least 256 and "
        "FEDCHAIN_WATCH_INTERVAL_MS at least 50."
    )

# --- Network of nodes ---
# Peers to talk to (base URLs, comma-separated); more are added with `manage.py peer add` and learned from peers.
FEDCHAIN_PEERS = env_list("FEDCHAIN_PEERS", [])
# The URL other nodes reach this node at, told to peers so they can announce to it and share it (optional).
FEDCHAIN_NODE_URL = env_str("FEDCHAIN_NODE_URL").rstrip("/")
# The network process looks at its peers and announcements this often (milliseconds).
FEDCHAIN_NETWORK_POLL_MS = env_int("FEDCHAIN_NETWORK_POLL_MS", 500)
# Each peer is asked for its tip at least this often (seconds), besides when it announces something.
FEDCHAIN_PEER_POLL_SECONDS = env_int("FEDCHAIN_PEER_POLL_SECONDS", 2)
FEDCHAIN_MAX_PEERS = env_int("FEDCHAIN_MAX_PEERS", 32)
# Syncs from peers the network loop runs at once (each peer one at a time).
FEDCHAIN_SYNC_THREADS = env_int("FEDCHAIN_SYNC_THREADS", 4)
# The largest model blob taken from a peer (bytes).
FEDCHAIN_P2P_MAX_BLOB_BYTES = env_int("FEDCHAIN_P2P_MAX_BLOB_BYTES", 64 * 1024 * 1024)
# Protocol requests one address may make per second on average (bursts of twice that); beyond: HTTP 429.
FEDCHAIN_P2P_RATE = env_int("FEDCHAIN_P2P_RATE", 100)
# This node's miners also mine the pending rounds of other nodes' experiments.
FEDCHAIN_SHARED_MINING = env_bool("FEDCHAIN_SHARED_MINING", True)
# An experiment is finished once every round is on the main chain and its last under this many blocks (blocks
# of any experiment count: with 1 or more, a lone experiment's last round waits for another experiment's block).
FEDCHAIN_CONFIRMATIONS = env_int("FEDCHAIN_CONFIRMATIONS", 0)
if FEDCHAIN_NETWORK_POLL_MS < 50 or FEDCHAIN_PEER_POLL_SECONDS < 1 or FEDCHAIN_MAX_PEERS < 1 or FEDCHAIN_SYNC_THREADS < 1:
    raise ImproperlyConfigured(
        "FEDCHAIN_NETWORK_POLL_MS must be at least 50, FEDCHAIN_PEER_POLL_SECONDS, FEDCHAIN_MAX_PEERS and "
        "FEDCHAIN_SYNC_THREADS at least 1."
    )
if FEDCHAIN_P2P_MAX_BLOB_BYTES < 1024 or FEDCHAIN_P2P_RATE < 1 or FEDCHAIN_CONFIRMATIONS < 0:
    raise ImproperlyConfigured(
        "FEDCHAIN_P2P_MAX_BLOB_BYTES must be at least 1024, FEDCHAIN_P2P_RATE at least 1 and "
        "FEDCHAIN_CONFIRMATIONS at least 0."
    )

# --- Workers ---
# A worker holding a job moves its heartbeat this often (seconds). A claim whose heartbeat is older than
# FEDCHAIN_CLAIM_TIMEOUT seconds belongs to a dead or stuck worker (on this host, a claim of a process that
# has ended is recovered at once), and its job runs again.
FEDCHAIN_HEARTBEAT_SECONDS = env_int("FEDCHAIN_HEARTBEAT_SECONDS", 5)
FEDCHAIN_CLAIM_TIMEOUT = env_int("FEDCHAIN_CLAIM_TIMEOUT", 30)
# A queued job no worker took for this long is enqueued again (the queue may have lost its task).
FEDCHAIN_REQUEUE_AFTER = env_int("FEDCHAIN_REQUEUE_AFTER", 60)
# How many times a job is claimed before a database error (a busy or unreachable database) fails it.
FEDCHAIN_JOB_ATTEMPTS = env_int("FEDCHAIN_JOB_ATTEMPTS", 3)
# How long a worker waits for a database that has gone away (a restart, a failover) before giving up on a job.
FEDCHAIN_DATABASE_WAIT = env_int("FEDCHAIN_DATABASE_WAIT", 300)
# A round aggregates when all its sampled clients are in, or this many seconds after it started: clients
# still training then are recorded as dropped.
FEDCHAIN_ROUND_DEADLINE = env_int("FEDCHAIN_ROUND_DEADLINE", 600)
if FEDCHAIN_HEARTBEAT_SECONDS < 1 or FEDCHAIN_CLAIM_TIMEOUT < 2 * FEDCHAIN_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "FEDCHAIN_HEARTBEAT_SECONDS must be at least 1 and FEDCHAIN_CLAIM_TIMEOUT at least twice as long."
    )
if FEDCHAIN_REQUEUE_AFTER < 1 or FEDCHAIN_JOB_ATTEMPTS < 1 or FEDCHAIN_ROUND_DEADLINE < 1:
    raise ImproperlyConfigured(
        "FEDCHAIN_REQUEUE_AFTER, FEDCHAIN_JOB_ATTEMPTS and FEDCHAIN_ROUND_DEADLINE must be at least 1."
    )
if FEDCHAIN_DATABASE_WAIT < 1:
    raise ImproperlyConfigured("FEDCHAIN_DATABASE_WAIT must be at least 1.")

# --- Dashboard ---
# Each web process polls the event outbox this often (milliseconds) for events to push to browsers.
FEDCHAIN_LIVE_POLL_MS = env_int("FEDCHAIN_LIVE_POLL_MS", 100)
# The newest events each web process keeps encoded in memory: websockets within them need no query.
FEDCHAIN_LIVE_RECENT_EVENTS = env_int("FEDCHAIN_LIVE_RECENT_EVENTS", 2000)
# mining_progress events kept in the outbox; older ones are pruned (they only matter while new).
FEDCHAIN_MINING_PROGRESS_KEEP = env_int("FEDCHAIN_MINING_PROGRESS_KEEP", 500)
# A websocket resuming further back than this many events gets a fresh snapshot instead of a replay (a replay
# reads the outbox from the database; a snapshot's size is bounded).
FEDCHAIN_LIVE_MAX_REPLAY = env_int("FEDCHAIN_LIVE_MAX_REPLAY", 5000)
# Open websockets one client address may hold on one web process; more are refused (closed with 4429).
FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT = env_int("FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT", 20)
if FEDCHAIN_LIVE_MAX_REPLAY < 1 or FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT < 1:
    raise ImproperlyConfigured("FEDCHAIN_LIVE_MAX_REPLAY and FEDCHAIN_LIVE_CONNECTIONS_PER_CLIENT must be at least 1.")
if FEDCHAIN_LIVE_POLL_MS < 10 or FEDCHAIN_LIVE_RECENT_EVENTS < 1 or FEDCHAIN_MINING_PROGRESS_KEEP < 1:
    raise ImproperlyConfigured(
        "FEDCHAIN_LIVE_POLL_MS must be at least 10, FEDCHAIN_LIVE_RECENT_EVENTS and "
        "FEDCHAIN_MINING_PROGRESS_KEEP at least 1."
    )

# --- Explorer ---
# How many of the newest blocks the /chain/ page charts (difficulty, intervals, time to mine).
FEDCHAIN_EXPLORER_CHART_BLOCKS = env_int("FEDCHAIN_EXPLORER_CHART_BLOCKS", 1000)
if FEDCHAIN_EXPLORER_CHART_BLOCKS < 2:
    raise ImproperlyConfigured("FEDCHAIN_EXPLORER_CHART_BLOCKS must be at least 2.")

# --- Work budget (apps/federated/budget.py): what creating an experiment may commit the machine to ---
# Estimated core-seconds (training, aggregation, evaluation, mining) and stored bytes of one experiment; the
# memory of its largest job; what one user's unfinished experiments, and every unfinished experiment, may still
# need together; how many unfinished experiments a user may have.
FEDCHAIN_BUDGET_CORE_SECONDS = env_int("FEDCHAIN_BUDGET_CORE_SECONDS", 6 * 3600)
FEDCHAIN_BUDGET_STORED_BYTES = env_int("FEDCHAIN_BUDGET_STORED_BYTES", 10 * 10**9)
FEDCHAIN_BUDGET_JOB_MEMORY_BYTES = env_int("FEDCHAIN_BUDGET_JOB_MEMORY_BYTES", 2 * 10**9)
FEDCHAIN_BUDGET_USER_CORE_SECONDS = env_int("FEDCHAIN_BUDGET_USER_CORE_SECONDS", 24 * 3600)
FEDCHAIN_BUDGET_USER_EXPERIMENTS = env_int("FEDCHAIN_BUDGET_USER_EXPERIMENTS", 5)
FEDCHAIN_BUDGET_SITE_CORE_SECONDS = env_int("FEDCHAIN_BUDGET_SITE_CORE_SECONDS", 7 * 24 * 3600)
FEDCHAIN_BUDGET_SITE_STORED_BYTES = env_int("FEDCHAIN_BUDGET_SITE_STORED_BYTES", 50 * 10**9)
if min(FEDCHAIN_BUDGET_CORE_SECONDS, FEDCHAIN_BUDGET_STORED_BYTES, FEDCHAIN_BUDGET_JOB_MEMORY_BYTES,
       FEDCHAIN_BUDGET_USER_CORE_SECONDS, FEDCHAIN_BUDGET_USER_EXPERIMENTS, FEDCHAIN_BUDGET_SITE_CORE_SECONDS,
       FEDCHAIN_BUDGET_SITE_STORED_BYTES) < 1:
    raise ImproperlyConfigured("Every FEDCHAIN_BUDGET_* limit must be at least 1.")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "huey.contrib.djhuey",
    "drf_spectacular_sidecar",  # Swagger UI's static files for /api/docs/ (no internet needed)
    "axes",
    "apps.core",
    "apps.events",
    "apps.ledger",
    "apps.federated",
    "apps.network",
    "apps.dashboard",
    "apps.explorer",
    "apps.workers",
    "apps.tokens",
]

MIDDLEWARE = [
    # The three that set security headers come before WhiteNoise: it answers static files itself, so only the
    # middlewares above it see those responses (tests/core/test_static_files.py checks each header).
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Static files (plotly.js among them) from the app itself, compressed, with content-hashed names cached for
    # a year: one process, no proxy needed. `manage.py serve` collects them first.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last: turns a login or Basic authentication refused for too many failures into a 429 (apps/core/throttle.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fedchain_site.urls"
ASGI_APPLICATION = "fedchain_site.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / env_str("FEDCHAIN_SQLITE_NAME", "db.sqlite3"),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait for the busy
                # timeout instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                # temp_store=MEMORY: a write inside a savepoint (a nested atomic) keeps its statement journal
                # in memory, not in a temporary file; with the ledger's change-log triggers, a block's 102
                # records took 6.8 ms to insert in a savepoint with that file, 2.0 ms with it in memory.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;",
            },
            # Tests run workers in other processes: they need a database on disk.
            "TEST": {"NAME": DATA_DIR / "test_db.sqlite3"},
            # Kept open across tasks and requests, as the PostgreSQL connection is: Huey closes a connection
            # past its age after every task, and opening one (Django registers its SQL functions on it, the
            # init_command runs) cost a worker more than a short job's own queries.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")

# Huey runs the task queue; Django's task API (django.tasks) enqueues through it.
FEDCHAIN_WORKERS = env_int("FEDCHAIN_WORKERS", 2)
# Worker processes of the whole deployment, all hosts together: a round's clients train in twice as many jobs.
FEDCHAIN_CLUSTER_WORKERS = env_int("FEDCHAIN_CLUSTER_WORKERS", FEDCHAIN_WORKERS)
if FEDCHAIN_WORKERS < 1 or FEDCHAIN_CLUSTER_WORKERS < 1:
    raise ImproperlyConfigured("FEDCHAIN_WORKERS and FEDCHAIN_CLUSTER_WORKERS must be at least 1.")
if REDIS_URL:
    HUEY = {
        # Priorities keep aggregation ahead of a backlog of client training (apps.federated.lifecycle.PRIORITY).
        "huey_class": "huey.PriorityRedisHuey",
        "name": env_str("FEDCHAIN_QUEUE_NAME", "fedchain"),
        "url": REDIS_URL,
        "immediate": False,
    }
else:
    HUEY = {
        # Huey's SqliteHuey with synchronous=NORMAL (WAL): no fsync at each of a task's commits.
        "huey_class": "apps.workers.queue.QueueHuey",
        "name": env_str("FEDCHAIN_QUEUE_NAME", "fedchain"),
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
    }
HUEY["consumer"] = {
    "workers": FEDCHAIN_WORKERS,
    "worker_type": "process",
    # SQLite storage is polled (Redis blocks until a task comes): an idle worker looks again within 0.1 s,
    # so the other workers take their share of a round's train jobs before a busy one has taken them all (at
    # 0.5 s, one worker did all of a 100-client round's work while the other slept). Measured idle: the consumer
    # and two workers took 6 ms of CPU a second in all.
    "initial_delay": 0.01,
    "max_delay": 0.1,
}

TASKS = {
    "default": {
        "BACKEND": "huey.contrib.djhuey.tasks_backend.HueyBackend",
        # A task never runs before the rows it reads are committed.
        "OPTIONS": {"enqueue_on_commit": True},
    }
}

# No channel layer: each web process relays the database outbox to its own websockets (apps/dashboard/relay.py),
# so nothing a browser must see goes through a layer's at-most-once group messages, on one host or many.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("FEDCHAIN_STATIC_ROOT") or DATA_DIR / "static").resolve()
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "apps.core.staticfiles.PlotlyFinder",  # vendor/plotly/plotly.min.js from the installed plotly package
]

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Login throttling (django-axes): after AXES_FAILURE_LIMIT failed logins or HTTP Basic authentications from one
# address, that address is refused for AXES_COOLOFF_MINUTES without any password being checked (each check is a
# PBKDF2 of about a third of a second: failures must not be a way to burn CPU). The address is REMOTE_ADDR:
# behind a proxy, pass the client's address through to Daphne (--proxy-headers) rather than trusting a header.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = AXES_COOLOFF_MINUTES / 60  # hours, as django-axes reads it
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.core.throttle.lockout_response"
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES must be at least 1.")

# Content-Security-Policy (Django's own middleware): scripts and styles only from this site's static files, no
# inline script or style, no eval, nothing embedded from elsewhere. Page data travels in json_script blocks.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Production hardening: on whenever DEBUG is off.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# How much the processes log: 0 warnings and errors only; 1 (the default) also one line per task that ran;
# 2 everything (each task's start and end as Huey and Django's task API report them, the web access log).
# `manage.py serve -v N` sets it for every process it starts.
FEDCHAIN_LOG_VERBOSITY = env_int("FEDCHAIN_LOG_VERBOSITY", 1)
_CHATTY = "INFO" if FEDCHAIN_LOG_VERBOSITY >= 2 else "WARNING"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("FEDCHAIN_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler would print each of its messages a second time beside the root's.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.tasks": {"level": _CHATTY},
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": _CHATTY},
        "huey": {"handlers": ["console"], "level": _CHATTY, "propagate": False},
        "axes": {"level": _CHATTY},  # its banner at every start and a line per check; failures are warnings
        "httpx": {"level": _CHATTY},  # a line per peer request (a node asks each peer its tip every few seconds)
        "fedchain.tasks": {"level": "INFO" if FEDCHAIN_LOG_VERBOSITY >= 1 else "WARNING"},
    },
}
