"""Checks for lesson 12: who may do what, and a TLS login by client certificate.

Each check logs in to the broker the way the learner's answer says and tries things there: the
broker's own answers (allowed, or refused with ACCESS_REFUSED) are the verdict. Each prints one
✅/❌ line (see ``helpers.checks.report``).
"""

import ssl
from urllib.parse import quote

from ..config import settings
from .report import check, report

__all__ = ["check_read_only_access", "check_tls_client_certificate"]

HOSTNAME_MISMATCH = 62  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH


def _as(user, password, vhost):
    import pika

    current = settings()
    return pika.ConnectionParameters(host=current.amqp_host, port=current.amqp_port, virtual_host=vhost,
                                     credentials=pika.PlainCredentials(user, password), connection_attempts=1,
                                     socket_timeout=5, blocked_connection_timeout=5)


def _allowed(connection, action):
    """True if the broker's permissions let ``action(channel)`` through on a fresh channel, False
    if it refuses it (403). Any other refusal (404: no such queue or exchange; 405, 406: it exists,
    otherwise) comes after the permission check, so it means the permission let it through."""
    import pika

    channel = connection.channel()
    channel.confirm_delivery()  # a refused publish raises at once
    try:
        action(channel)
    except pika.exceptions.ChannelClosedByBroker as error:
        return error.reply_code != 403
    if channel.is_open:
        channel.close()
    return True


def _near_misses(name):
    """Names a pattern for ``name`` alone must not match: ``name`` extended at either end, cut
    short, with its dots replaced (an unescaped dot matches any character), and unrelated."""
    import secrets

    first, _, rest = name.partition(".")
    names = [f"{name}.old", f"x.{name}", f"x{name}", f"{name}s", f"{name}-2", name[:-1], name.replace(".", "-"),
             name.replace(".", "x"), f"{first}.archive" if rest else f"{name}.archive", f"check.{secrets.token_hex(3)}"]
    return list(dict.fromkeys(other for other in names if other and other != name and not other.startswith("amq.")))


@check
def check_read_only_access(user, password, vhost="team-a", queue="audit.log",
                           others=("audit.log.old", "audit-log", "audit.archive")):
    """Lesson 12, exercise 1: ``user`` may read ``queue`` in ``vhost`` and nothing else. The check
    logs in as ``user`` and asks the broker: read ``queue`` (allowed), read ``others`` and names
    that extend ``queue`` at either end, cut it or replace its dots (refused), write to the
    built-in exchanges, to ``queue`` and those names (refused), configure (declare) ``queue``,
    those names and an exchange (refused). Then it reads the user's tags (none) and its
    permissions in every vhost (``vhost`` only) from the management API."""
    import pika

    from ..management import management_api

    if not isinstance(user, str) or not isinstance(password, str):
        return report(False, "", "Give the user's name and password as text, as the exercise's check cell does.")
    try:
        connection = pika.BlockingConnection(_as(user, password, vhost))
    except pika.exceptions.ProbableAuthenticationError:
        return report(False, "", f"The broker refused the login of '{user}' with AUDITOR_PASSWORD: create the user with "
                                 "that password (PUT users/<name> with {\"password\": ..., \"tags\": \"\"}).")
    except pika.exceptions.ProbableAccessDeniedError:
        return report(False, "", f"'{user}' may log in, but not into the vhost '{vhost}': give it permissions there "
                                 f"(PUT permissions/{vhost}/{user}).")
    near = list(dict.fromkeys([*others, *_near_misses(queue)]))
    made_exchanges = []
    with connection:
        def read(name):
            def take(channel):
                method, _properties, _body = channel.basic_get(name, auto_ack=False)
                if method is not None:
                    channel.basic_nack(method.delivery_tag, requeue=True)  # the message stays
            return take

        if not _allowed(connection, read(queue)):
            return report(False, "", f"'{user}' may not read '{queue}': its read pattern must match that name.")
        readable = [name for name in near if _allowed(connection, read(name))]
        if readable:
            return report(False, "", f"'{user}' may also read '{readable[0]}': anchor the read pattern at both ends so that "
                                     f"it matches '{queue}' alone (^...$, with the dot escaped).")
        for exchange in ("", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", "amq.match", queue, *near):
            if _allowed(connection, lambda channel: channel.basic_publish(exchange, queue, "written by the check")):
                return report(False, "", f"'{user}' may publish to the exchange '{exchange or 'amq.default'}': a read-only "
                                         "user's write pattern matches nothing (\"\").")
        for name in (queue, *near):
            if _allowed(connection, lambda channel: channel.queue_declare(name, exclusive=True)):
                return report(False, "", f"'{user}' may declare (configure) the queue '{name}', and so delete it: its "
                                         "configure pattern matches nothing (\"\").")
        for name in (queue, near[-1]):
            if _allowed(connection, lambda channel: channel.exchange_declare(name, "fanout", auto_delete=True)):
                made_exchanges.append(name)
                break
    api = management_api()
    for name in made_exchanges:  # a configure the check made succeed: delete what it made
        api.delete(f"exchanges/{quote(vhost, safe='')}/{quote(name, safe='')}")
    if made_exchanges:
        return report(False, "", f"'{user}' may declare (configure) the exchange '{made_exchanges[0]}': its configure "
                                 "pattern matches nothing (\"\").")
    tags = _user_tags(user)
    if tags:
        return report(False, "", f"'{user}' has the tags {tags}: with them it may use the management UI "
                                 "(an administrator may even grant itself anything). A reading program needs no tag: \"\".")
    elsewhere = sorted(entry.get("vhost") for entry in api.get(f"users/{quote(user, safe='')}/permissions")
                       if entry.get("vhost") != vhost)
    if elsewhere:
        return report(False, "", f"'{user}' also has permissions in the vhost '{elsewhere[0]}': give it permissions in "
                                 f"'{vhost}' only (DELETE permissions/<vhost>/{user} for the others).")
    report(True, f"'{user}' may read '{queue}' in '{vhost}', and the broker refuses it everything else it tried "
                 f"({len(near)} other names, read, write and configure each).", "")


def _user_tags(user):
    """The user's tags, as the broker keeps them (a list on RabbitMQ 3.10 and 4.x, a string before)."""
    from ..management import management_api

    tags = management_api().get(f"users/{user}").get("tags") or []
    return [tag for tag in (tags.split(",") if isinstance(tags, str) else tags) if tag]


@check
def check_tls_client_certificate(tls_client_parameters, tls_node):
    """Lesson 12, exercise 2: parameters that reach the TLS node over TLS, verify the broker, and
    log in as 'tls-client' by its certificate (EXTERNAL), as the TLS node itself reports."""
    import pika

    if not callable(tls_client_parameters):
        return report(False, "", "tls_client_parameters is not a function: run its cell first.")
    try:
        parameters = tls_client_parameters()
    except FileNotFoundError as error:
        return report(False, "", f"tls_client_parameters() found no file {error.filename}: the lesson's files are "
                                 "certificates / \"ca.pem\" and certificates / \"client.pem\".")
    if not isinstance(parameters, pika.connection.Parameters):
        return report(False, "", f"tls_client_parameters() returned a {type(parameters).__name__}: return "
                                 "pika.ConnectionParameters(..., ssl_options=pika.SSLOptions(context, \"localhost\")).")
    if parameters.ssl_options is None:
        return report(False, "", f"No ssl_options: the TLS node's port {tls_node.amqps_port} speaks TLS only. Add "
                                 "ssl_options=pika.SSLOptions(context, \"localhost\").")
    if not isinstance(parameters.credentials, pika.credentials.ExternalCredentials):
        return report(False, "", f"The credentials are {type(parameters.credentials).__name__}, a password login: log in "
                                 "by the certificate with credentials=pika.credentials.ExternalCredentials().")
    context = parameters.ssl_options.context
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        return report(False, "", "Your TLS context does not verify the broker's certificate and name: a client like that "
                                 "talks to whoever answers. Use ssl.create_default_context(cafile=...).")
    parameters.client_properties = {"connection_name": "tls-exercise"}
    parameters.connection_attempts = 1
    parameters.socket_timeout = 5
    try:
        connection = pika.BlockingConnection(parameters)
    except ssl.SSLCertVerificationError as error:
        if error.verify_code == HOSTNAME_MISMATCH:
            return report(False, "", f"Your client checked the broker's name and refused it ({error.verify_message}): ask for "
                                     "the name on the broker's certificate, pika.SSLOptions(context, \"localhost\").")
        return report(False, "", f"Your client refused the broker's certificate ({error.verify_message}): trust the "
                                 "course's CA, cafile=certificates / \"ca.pem\".")
    except pika.exceptions.ProbableAuthenticationError:
        return report(False, "", "The broker refused the login: with ExternalCredentials it needs the client certificate, "
                                 "context.load_cert_chain(certificates / \"client.pem\").")
    except ssl.SSLError:
        return report(False, "", f"Port {parameters.port} does not speak TLS: the TLS node's is tls_node.amqps_port "
                                 f"({tls_node.amqps_port}).")
    except pika.exceptions.AMQPConnectionError as error:
        return report(False, "", f"No connection ({type(error).__name__}): connect to localhost, port "
                                 f"{tls_node.amqps_port}, with the course's CA and the client certificate.")
    with connection:
        api = tls_node.api()
        details = api.get(f"connections/{api.connection('tls-exercise')['name']}")
    if not details.get("ssl"):
        return report(False, "", "The broker says the connection is not TLS.")
    if details.get("auth_mechanism") != "EXTERNAL":
        return report(False, "", f"You logged in as '{details.get('user')}' with a password ({details.get('auth_mechanism')}): "
                                 "log in by the certificate instead, credentials=pika.credentials.ExternalCredentials().")
    if details.get("user") != "tls-client":
        return report(False, "", f"The broker logged you in as '{details.get('user')}': log in as tls-client, by the "
                                 "certificate certificates / \"client.pem\" (its common name is the user's name).")
    report(True, f"Over TLS, the broker's certificate verified, and logged in as '{details.get('user')}' by the "
                 "client certificate: no password sent.", "")
