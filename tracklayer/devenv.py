"""Local environment for ``make run`` and ``make test``: make PostgreSQL and Redis reachable,
then (for ``run``) start the web server, a Celery worker and Celery beat together.

Order of preference for each server: the URL in the environment when set (it must answer);
else the local server (started when it is installed but stopped); else, when running as
root, installed with apt-get; else the exact command to run is printed.

Usage: ``python -m tracklayer.devenv services|browser|wrk|migrate|run`` (``browser``: Chromium
and the browser SDKs the e2e tests load, npm from Debian when missing; ``migrate``: the control
database and every region's). Runs before Django is set up, so
it only needs the standard library, psycopg and redis.

``run`` also writes ``var/dev.env`` once (see ``tracklayer/localenv.py``), so that the
``tracklayer`` command and ``manage.py`` run in development in any shell afterwards.
"""

import base64
import glob
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://tracklayer:tracklayer@127.0.0.1:5432/tracklayer"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_LOCAL_PLATFORMS_URL = "http://127.0.0.1:9100"
DEV_ENV = ROOT / "var" / "dev.env"
CHROMIUM = "/usr/bin/chromium"
# The real browser SDKs the e2e tests load: pinned by the committed package.json and lock file,
# installed by ``npm ci`` into var/js/ (git-ignored; node_modules are never committed).
BROWSER_SDKS_LOCK = ROOT / "tests" / "e2e" / "js"
BROWSER_SDKS = ROOT / "var" / "js"
ANALYTICS_NEXT_UMD = BROWSER_SDKS / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"


class SetupError(Exception):
    pass


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **kwargs)


_apt_updated = False


def apt_install(*packages: str) -> None:
    global _apt_updated
    if not is_root() or shutil.which("apt-get") is None:
        raise SetupError(
            "Install the missing system packages, then run this again:\n"
            f"    sudo apt-get update && sudo apt-get install -y {' '.join(packages)}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        say("apt-get update")
        run(["apt-get", "update", "-qq"], env=env)
        _apt_updated = True
    say(f"apt-get install {' '.join(packages)}")
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_connect(url: str, dbname: str | None = None):
    kwargs = {"connect_timeout": 3}
    if dbname:
        kwargs["dbname"] = dbname
    return psycopg.connect(url, **kwargs)


def _pg_server_answers(url: str) -> bool:
    """True when something accepts connections at the URL's host and port (any role/db)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", str(parts.port or 5432)
    if shutil.which("pg_isready"):
        return subprocess.run(
            ["pg_isready", "-q", "-h", host, "-p", port], check=False
        ).returncode in (0, 1)  # 1 = up but rejecting (starting); 2 = no answer
    try:
        _pg_connect(url).close()
    except psycopg.OperationalError as error:
        return "Connection refused" not in str(error) and "timeout" not in str(error)
    return True


def _pg_start_local() -> bool:
    if shutil.which("pg_ctlcluster") is None:
        return False
    clusters = sorted(glob.glob("/etc/postgresql/*/main"))
    if not clusters:
        return False
    version = Path(clusters[-1]).parent.name
    say(f"starting PostgreSQL {version}")
    run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"])
    return True


def _pg_wait(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _pg_server_answers(url):
            return
        time.sleep(0.5)
    raise SetupError("PostgreSQL did not start answering in time.")


def _pg_superuser_sql(sql: str, why: str = "Create the database role") -> None:
    if not is_root() or shutil.which("runuser") is None:
        raise SetupError(
            f"{why}, then run this again:\n    sudo -u postgres psql -c {shlex.quote(sql)}"
        )
    run(
        ["runuser", "-u", "postgres", "--", "psql", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        cwd="/",
    )


def _pg_can_create_roles(url: str) -> bool:
    with _pg_connect(url) as connection:
        row = connection.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    return bool(row and row[0])


# The local role owns the tables (it runs migrate) and creates the test databases (CREATEDB).
# CREATEROLE is for tests/audit/test_db_role.py, which creates the restricted application role
# with ``tracklayer audit-db-role`` and drops it again (docs/audit-log.md, "Running as a
# restricted role"). A production owner role does not need it when a DBA creates that role.
LOCAL_ROLE_ATTRIBUTES = "LOGIN CREATEDB CREATEROLE"


def ensure_postgres() -> None:
    url = os.environ.get("DATABASE_URL")
    if url:  # the operator's own database: it must answer as it is.
        try:
            _pg_connect(url).close()
        except psycopg.OperationalError as error:
            raise SetupError(f"DATABASE_URL does not answer: {error}".strip()) from None
        say("PostgreSQL (DATABASE_URL) is reachable")
        if not _pg_can_create_roles(url):
            say(
                "note: DATABASE_URL's role lacks CREATEROLE, so tests/audit/test_db_role.py "
                "cannot create the restricted role it tests (ALTER ROLE … CREATEROLE)"
            )
        return

    url = DEFAULT_DATABASE_URL
    if not _pg_server_answers(url):
        if not _pg_start_local():
            apt_install("postgresql")
            _pg_start_local()
        _pg_wait(url)

    parts = urlsplit(url)
    user, password, dbname = parts.username, parts.password, parts.path.lstrip("/")
    try:
        _pg_connect(url).close()
    except psycopg.OperationalError as error:
        message = str(error)
        if "does not exist" not in message and "authentication failed" not in message:
            raise SetupError(f"PostgreSQL refused the connection: {message}") from None
        say(f"creating PostgreSQL role {user!r} and database {dbname!r}")
        _pg_superuser_sql(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN "
            f"CREATE ROLE {user} {LOCAL_ROLE_ATTRIBUTES} PASSWORD '{password}'; END IF; END $$;"
        )
        try:
            _pg_connect(url, dbname="postgres").close()
        except psycopg.OperationalError as inner:
            raise SetupError(f"PostgreSQL still refuses {user!r}: {inner}") from None
        with _pg_connect(url, dbname="postgres") as connection:
            connection.autocommit = True
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [dbname]
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{dbname}"')
        _pg_connect(url).close()
    if not _pg_can_create_roles(url):  # a role created before CREATEROLE was needed
        say(f"granting CREATEROLE to PostgreSQL role {user!r} (the tests create a role)")
        _pg_superuser_sql(f"ALTER ROLE {user} CREATEROLE", why="Give the database role CREATEROLE")
    say("PostgreSQL is reachable")


def ensure_region_databases() -> None:
    """Every region's data-plane database (tracklayer/regions.py): the one REGION_DATABASES
    names must answer; one it leaves out is ``<control database>_<region>`` on the control
    database's server, created here when missing (Django's test run creates the test copies)."""
    from tracklayer import regions

    control = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        named = regions.parse_region_databases(os.environ.get("REGION_DATABASES", ""))
    except Exception as error:  # ImproperlyConfigured, told as it is
        raise SetupError(str(error)) from None
    for code in regions.REGIONS:
        if code in named:
            try:
                _pg_connect(named[code]).close()
            except psycopg.OperationalError as error:
                raise SetupError(f"REGION_DATABASES: {code} does not answer: {error}") from None
            continue
        dbname = f"{urlsplit(control).path.lstrip('/')}_{code}"
        try:
            _pg_connect(control, dbname=dbname).close()
        except psycopg.OperationalError as error:
            if "does not exist" not in str(error):
                raise SetupError(f"PostgreSQL refused {dbname!r}: {error}") from None
            say(f"creating the {code} region's database {dbname!r}")
            with _pg_connect(control, dbname="postgres") as connection:
                connection.autocommit = True
                connection.execute(f'CREATE DATABASE "{dbname}"')
    say(f"region databases are reachable ({', '.join(regions.REGIONS)})")


# --- Redis ----------------------------------------------------------------------------------


def _redis_ping(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def ensure_redis() -> None:
    url = os.environ.get("REDIS_URL")
    if url:
        if not _redis_ping(url):
            raise SetupError(f"REDIS_URL ({urlsplit(url).hostname}) does not answer.")
        say("Redis (REDIS_URL) is reachable")
        return
    url = DEFAULT_REDIS_URL
    if not _redis_ping(url):
        if shutil.which("redis-server") is None:
            apt_install("redis-server")
        say("starting Redis")
        logfile = ROOT / "var" / "redis.log"
        logfile.parent.mkdir(exist_ok=True)
        run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(logfile),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _redis_ping(url):
            if time.monotonic() > deadline:
                raise SetupError("Redis did not start answering in time.")
            time.sleep(0.2)
    say("Redis is reachable")


def ensure_browser() -> None:
    """The browser tests drive Debian's Chromium (browsers cannot be downloaded here)."""
    if not os.path.exists(CHROMIUM):
        apt_install("chromium")
    say("Chromium is installed")


def ensure_browser_sdks() -> None:
    """Segment's analytics.js (``@segment/analytics-next``) at the version the lock file pins,
    for tests/e2e/test_browser_sdk.py; npm from Debian when missing, like Chromium."""
    if shutil.which("npm") is None:
        apt_install("npm")  # brings Debian's nodejs with it
    lock = (BROWSER_SDKS_LOCK / "package-lock.json").read_bytes()
    stamp = BROWSER_SDKS / ".installed-lock"
    installed = stamp.exists() and stamp.read_bytes() == lock
    if not installed or not (ANALYTICS_NEXT_UMD / "index.js").exists():
        BROWSER_SDKS.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(BROWSER_SDKS_LOCK / name, BROWSER_SDKS / name)
        say("npm ci: the browser SDKs the e2e tests load (into var/js/)")
        # --ignore-scripts: nothing of theirs runs here; the tests only serve the built bundle.
        run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel", "error"],
            cwd=BROWSER_SDKS,
        )
        stamp.write_bytes(lock)
    say("browser SDKs are installed")


def ensure_wrk() -> None:
    """The ingestion benchmark's load generator (``make bench``), from Debian like Chromium."""
    if shutil.which("wrk") is None:
        apt_install("wrk")
    say("wrk is installed")


def ensure_xmlsec1() -> None:
    """Debian's xmlsec1: the SSO tests' real identity provider (pysaml2) signs with it."""
    if shutil.which("xmlsec1") is None:
        apt_install("xmlsec1")
    say("xmlsec1 is installed")


# --- make run ---------------------------------------------------------------------------------

DEV_ENV_HEADER = """\
# TrackLayer development settings for this checkout, written once by `make run`
# (tracklayer/devenv.py). With it, `.venv/bin/tracklayer ...` and `manage.py` run in development
# in any shell. It is read only from this project's var/, only when the environment does not set
# TRACKLAYER_ENV to something else, and never over a variable the environment sets
# (tracklayer/localenv.py). Add your own development settings below; never copy it to a server.
"""


def ensure_dev_env(path: Path = DEV_ENV) -> None:
    """Write ``var/dev.env`` unless it exists (its keys seal the secrets in the database)."""
    if os.environ.get("TRACKLAYER_ENV", "development") != "development":
        return  # the file would not be read (TRACKLAYER_ENV=test or production in the shell)
    if path.exists():
        say(f"development settings: {_shown(path)}")
        return
    from tracklayer import keyring, localenv

    # "dev" is the key development derived from the built-in SECRET_KEY before this file
    # existed: kept so a database seeded then still decrypts (keyring-reencrypt moves it on).
    legacy = base64.b64encode(keyring.development_key(localenv.INSECURE_SECRET_KEY)).decode()
    local = base64.b64encode(secrets.token_bytes(32)).decode()
    path.parent.mkdir(exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(
            DEV_ENV_HEADER
            + "TRACKLAYER_ENV=development\n"
            + f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            + "# New secrets are sealed with the first key; the second is the one development\n"
            + "# used before this file existed, kept so older local data still decrypts.\n"
            + f"TRACKLAYER_KEYRING=local:{local},dev:{legacy}\n"
        )
    say(f"wrote development settings (SECRET_KEY, key ring) to {_shown(path)}")


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _local_url(host: str) -> str:
    # Names a browser on this machine can open (0.0.0.0 listens everywhere, opens nowhere).
    return "localhost" if host in ("127.0.0.1", "0.0.0.0", "") else host  # noqa: S104


def _ensure_port_free(host: str, port: int, instead: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As a server binds: a port left in TIME_WAIT by the last run counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SetupError(
                f"cannot listen on {host}:{port} ({error.strerror}); choose another, "
                f"e.g. {instead} make run"
            ) from None


def manage(*args: str, capture: bool = False) -> str:
    result = run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        capture_output=capture,
        text=True,
    )
    return result.stdout if capture else ""


def migrate_all() -> None:
    """Migrate the control database, then every region's data plane."""
    from tracklayer import regions

    manage("migrate", "--no-input", "-v", "0")
    for alias in regions.data_aliases():
        manage("migrate", "--no-input", "-v", "0", "--database", alias)


def serve() -> None:
    import json

    from tracklayer import regions

    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    platforms_url = os.environ.get("LOCAL_PLATFORMS_URL", DEFAULT_LOCAL_PLATFORMS_URL)
    platforms = urlsplit(platforms_url)
    if not port.isdigit() or platforms.scheme != "http" or not platforms.port:
        raise SetupError(
            "PORT must be a port number and LOCAL_PLATFORMS_URL an http URL with a port "
            f"(PORT={port!r}, LOCAL_PLATFORMS_URL={platforms_url!r})"
        )
    _ensure_port_free(host, int(port), f"PORT={int(port) + 1}")
    _ensure_port_free(
        platforms.hostname,
        platforms.port,
        f"LOCAL_PLATFORMS_URL=http://{platforms.hostname}:{platforms.port + 1}",
    )
    url = f"http://{_local_url(host)}:{port}/"
    # Every process started here (seed_demo, web, worker) agrees on these: invitation links name
    # the address this server runs on, the demo destinations the platforms started below.
    os.environ.setdefault("TRACKLAYER_BASE_URL", url.rstrip("/"))
    os.environ.setdefault("LOCAL_PLATFORMS_URL", platforms_url)
    migrate_all()
    demo = json.loads(manage("seed_demo", "--json", capture=True).strip().splitlines()[-1])

    var = ROOT / "var"
    var.mkdir(exist_ok=True)
    commands = {
        "web": [sys.executable, "manage.py", "runserver", f"{host}:{port}"],
        "worker": [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tracklayer",
            "worker",
            "--loglevel",
            "INFO",
            # Delivery waits on the network: threads, so a slow platform holds only threads.
            "--pool",
            "threads",
            "--concurrency",
            "16",
            # One worker for the control plane's queue and every region's (settings'
            # CELERY_REGION_QUEUES); in production each region runs its own (docs/delivery.md).
            "--queues",
            ",".join(["celery", *(regions.queue_for(code) for code in regions.REGIONS)]),
        ],
        # Stand-ins for Meta, TikTok, GA4 and a webhook receiver (the demo's destinations).
        "platforms": [
            sys.executable,
            "-m",
            "destinations.local_platforms.server",
            "--host",
            platforms.hostname,
            "--port",
            str(platforms.port),
        ],
        "beat": [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tracklayer",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(var / "celerybeat-schedule"),
        ],
    }
    processes = {
        name: subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        for name, command in commands.items()
    }

    def stop(*_args) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def interrupt(*_args) -> None:
        raise KeyboardInterrupt

    # Ctrl-C, a plain kill or a closed terminal all stop everything started here (explicitly:
    # a shell starts background jobs with SIGINT ignored).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        time.sleep(2)
        from tracklayer.regions import REGIONS

        workspaces = "\n".join(
            f"      {item['slug']:<8} {item['name']:<14} {REGIONS[item['region']].label:<15} "
            f"write key {item['write_key']}"
            for item in demo["workspaces"]
        )
        logins = "\n".join(
            f"      {login['role']:<7} {login['email']}  /  {login['password']}"
            for login in demo["logins"]
        )
        print(
            "\n"
            "  TrackLayer is running (web, Celery worker and beat). Ctrl-C stops everything.\n\n"
            f"    Dashboard   {url}\n"
            f"    API         {url}v1/docs   (send events: POST {url}v1/track with the write key)\n"
            f"    Admin       {url}admin/   (the demo admin is staff)\n"
            f"    Platforms   {platforms_url.rstrip('/')}/   (local Meta, TikTok, GA4, webhook)\n\n"
            f"    Demo workspaces (each in its region's database; the logins are in both):\n"
            f"{workspaces}\n"
            f"    Logins:\n{logins}\n"
            f"    Demo write key ({demo['workspace']['slug']}): {demo['write_key']}\n",
            flush=True,
        )
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        failed = [name for name, process in processes.items() if process.poll() is not None]
        say(f"{', '.join(failed)} stopped; stopping the rest")
    except KeyboardInterrupt:
        print()
        say("stopping")
    finally:
        stop()


def main(argv: list[str]) -> int:
    targets = {
        "services": [ensure_postgres, ensure_region_databases, ensure_redis],
        "browser": [ensure_browser, ensure_browser_sdks, ensure_xmlsec1],
        "wrk": [ensure_wrk],
        "migrate": [ensure_postgres, ensure_region_databases, migrate_all],
        "run": [ensure_dev_env, ensure_postgres, ensure_region_databases, ensure_redis, serve],
    }
    if len(argv) != 1 or argv[0] not in targets:
        print(f"usage: python -m tracklayer.devenv {'|'.join(targets)}", file=sys.stderr)
        return 2
    try:
        for step in targets[argv[0]]:
            step()
    except SetupError as error:
        print(f"\nSet-up stopped: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        print(
            f"\nSet-up stopped: {shlex.join(error.cmd)} exited {error.returncode}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
