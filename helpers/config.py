"""Where the broker is: every URL and credential the course uses, read from the environment.

Nothing else in ``helpers`` reads the environment. The defaults are the course's broker
(``devuser`` / ``devpassword`` on localhost); a ``.env`` file at the top of the project, or
environment variables, change them:

=====================  ==========================================  ================
variable               meaning                                     default
=====================  ==========================================  ================
RABBITMQ_USER          user the course's broker is created with    devuser
RABBITMQ_PASSWORD      that user's password                        devpassword
AMQP_URL               where clients connect (AMQP 0-9-1)          built from above
MANAGEMENT_URL         the management UI and HTTP API              http://localhost:15672
PROMETHEUS_URL         the broker's Prometheus endpoint            http://localhost:15692
BROKER_BACKEND         force a backend: docker, local, existing    chosen (broker.py)
BROKER_STATE_DIR       the local node's data and logs              .broker/
PROMETHEUS_SERVER_URL  the course's own Prometheus server          http://127.0.0.1:9090
PROMETHEUS_STATE_DIR   that server's data                          .prometheus/
COURSE_CLASSROOM       a workshop's class: checks record outcomes  unset (off)
CLASSROOM_AMQP_URL     the room's broker, while a lesson runs on   set by the lesson
                       the attendee's own node (ops/own_node.py)
BROKER_LISTEN          the address the course's broker listens on  127.0.0.1 (this machine only)
=====================  ==========================================  ================

Introduced in lesson 00.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent
DOTENV_FILE = PROJECT_DIR / ".env"

DEFAULT_USER = "devuser"
DEFAULT_PASSWORD = "devpassword"


def read_dotenv(path=None):
    """The ``KEY=value`` lines of a .env file (the project's by default) as a dict.

    Comments and blank lines are skipped; a missing file gives an empty dict."""
    path = DOTENV_FILE if path is None else path
    values = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def env(name, default=None):
    """An environment variable, else the .env file's value, else the default."""
    if name in os.environ:
        return os.environ[name]
    return read_dotenv().get(name, default)


def where_set(name):
    """Where setting ``name`` comes from: "the environment", ".env", or None (the default)."""
    if name in os.environ:
        return "the environment"
    return ".env" if name in read_dotenv() else None


def login_source():
    """Which setting holds the password the course logs in with, in words, for a message that
    must name the setting to check (never a value, never an offer to store it)."""
    for name in ("AMQP_URL", "RABBITMQ_PASSWORD"):
        where = where_set(name)
        if where:
            return f"{name} (set in {where})"
    return f"the course's default password ({DEFAULT_PASSWORD})"


@dataclass(frozen=True)
class Settings:
    """Where the broker is and how to log in. ``settings()`` builds one from the environment."""

    amqp_url: str
    management_url: str
    prometheus_url: str
    user: str
    password: str

    @property
    def amqp_host(self):
        return urlsplit(self.amqp_url).hostname or "localhost"

    @property
    def amqp_port(self):
        return urlsplit(self.amqp_url).port or 5672

    @property
    def management_port(self):
        return urlsplit(self.management_url).port or 15672

    @property
    def prometheus_port(self):
        return urlsplit(self.prometheus_url).port or 15692

    @property
    def vhost(self):
        path = urlsplit(self.amqp_url).path
        return unquote(path[1:]) if len(path) > 1 else "/"


def settings():
    """The current settings (read anew each call, so a changed environment takes effect)."""
    user = env("RABBITMQ_USER", DEFAULT_USER)
    password = env("RABBITMQ_PASSWORD", DEFAULT_PASSWORD)
    amqp_url = env("AMQP_URL") or f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@localhost:5672/"
    parts = urlsplit(amqp_url)
    # Log in to the management API as the AMQP user unless told otherwise.
    if parts.username is not None:
        user = unquote(parts.username)
        password = unquote(parts.password or "")
    return Settings(
        amqp_url=amqp_url,
        management_url=env("MANAGEMENT_URL", "http://localhost:15672").rstrip("/"),
        prometheus_url=env("PROMETHEUS_URL", "http://localhost:15692").rstrip("/"),
        user=user,
        password=password,
    )


# In a workshop, a lesson that operates its broker moves its kernel to a node of the attendee's
# own (helpers/ops/own_node.py); this setting then keeps the room's broker, where progress goes.
ROOM_URL = "CLASSROOM_AMQP_URL"


def on_own_node():
    """True when this kernel has moved to a node of the attendee's own."""
    return bool(env(ROOM_URL))


def room_amqp_url():
    """The AMQP URL of the room's shared broker (where a check records progress): the broker in
    the settings, unless this kernel has moved to a node of its own."""
    return env(ROOM_URL) or settings().amqp_url


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def broker_listen():
    """The address the course's broker (local node or Docker) listens on: this machine only
    (127.0.0.1) unless ``BROKER_LISTEN`` says otherwise, e.g. 0.0.0.0 for a workshop's room
    (docs/WORKSHOP.md)."""
    return (env("BROKER_LISTEN") or "127.0.0.1").strip()
