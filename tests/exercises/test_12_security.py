"""Lesson 12 (security): each exercise's check against wrong answers, on the real broker."""

from urllib.parse import quote

import pika
import pytest

from helpers import checks
from helpers.config import settings
from helpers.management import management_api
from exercise_support import verdict


@pytest.fixture
def audit_queues():
    """The vhosts and queues of lesson 12's exercise 1, and no user 'auditor' yet."""
    api = management_api()
    api.delete("users/auditor")
    for vhost in ("team-a", "team-b"):
        api.put(f"vhosts/{vhost}", {})
    me = settings().user
    api.put(f"permissions/team-a/{me}", {"configure": ".*", "write": ".*", "read": ".*"})
    current = settings()
    params = pika.ConnectionParameters(current.amqp_host, current.amqp_port, "team-a",
                                       pika.PlainCredentials(current.user, current.password))
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        for queue in ("audit.log", "audit.log.old", "audit-log", "audit.archive"):
            channel.queue_declare(queue, durable=True)
            channel.basic_publish("", queue, f"an entry in {queue}")
    yield api
    api.delete("users/auditor")
    for vhost in ("team-a", "team-b"):
        api.delete(f"vhosts/{vhost}")


NOTHING = {"configure": "", "write": "", "read": ""}


@pytest.mark.parametrize("password, permissions, expected", [
    (None, {}, "❌"),  # left empty: no user
    ("another-password", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("right", {}, "❌"),  # a user with no permissions
    ("right", {"team-a": {"configure": ".*", "write": ".*", "read": ".*"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": ".*"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "audit.log"}}, "❌"),  # unanchored: audit.log.old too
    ("right", {"team-a": {**NOTHING, "write": ".*", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "configure": ".*", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log$"}, "/": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "^audit.log$"}}, "❌"),  # the dot unescaped: audit-log too
    ("right", {"team-a": {**NOTHING, "write": "^amq\\.topic$", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "configure": "^audit\\.archive$", "read": "^audit\\.log$"}}, "❌"),
    ("administrator", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "audit\\.log$"}}, "❌"),  # anchored at the end only: x.audit.log too
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log"}}, "❌"),  # anchored at the start only: audit.log.old too
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log.*"}}, "❌"),  # audit.logs too
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.lo"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "write": "^audit\\.log$", "read": "^audit\\.log$"}}, "❌"),  # write on its name
    ("right", {"team-a": {**NOTHING, "configure": "^audit\\.log$", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "configure": "^check\\.", "read": "^audit\\.log$"}}, "❌"),  # any new name
    ("right", {"team-a": {**NOTHING, "write": "^amq\\.headers$", "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log$"}, "team-b": NOTHING}, "❌"),  # may open team-b
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log$"}, "team-b": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("management", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("monitoring", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "❌"),
    ("right", {"team-a": {**NOTHING, "read": "^audit\\.log$"}}, "✅"),
    ("right", {"team-a": {**NOTHING, "read": "^(audit\\.log)$"}}, "✅"),
], ids=["left empty", "another password", "no permissions", "everything", "read all", "unanchored", "may write",
        "may configure", "another vhost too", "dot unescaped", "may write to amq.topic", "may configure another queue",
        "an administrator", "read anchored at the end only (x.audit.log)", "read anchored at the start only (audit.log.old)",
        "read with a tail (audit.logs)", "read cut short (audit.lo)", "write on the queue's name",
        "configure the queue itself", "configure new names", "may write to amq.headers", "team-b opened with nothing",
        "team-b too", "a management tag", "a monitoring tag", "solution", "solution, grouped"])
def test_12_exercise_1_read_only_access(audit_queues, capsys, password, permissions, expected):
    if password is not None:
        tags = password if password in ("administrator", "management", "monitoring") else ""
        audit_queues.put("users/auditor", {"password": "right" if tags else password, "tags": tags})
    for vhost, rights in permissions.items():
        audit_queues.put(f"permissions/{quote(vhost, safe='')}/auditor", rights)
    checks.check_read_only_access("auditor", "right", vhost="team-a", queue="audit.log")
    assert verdict(capsys) == expected


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory):
    """Lesson 12's TLS node, with the lesson's certificates, and the user 'tls-client'."""
    import trustme

    from helpers.ops.tls_node import TLSNode

    certificates = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    server = authority.issue_cert("localhost", "127.0.0.1")
    authority.cert_pem.write_to_path(str(certificates / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(certificates / "server.pem"))
    server.private_key_pem.write_to_path(str(certificates / "server.key"))
    authority.issue_cert("tls-client", common_name="tls-client").private_key_and_cert_chain_pem.write_to_path(
        str(certificates / "client.pem"))
    node = TLSNode(certificates)
    NODE_CERTIFICATES[:] = [certificates]
    node.start()
    node.api().put("users/tls-client", {"password_hash": "", "tags": ""})
    node.api().put("permissions/%2F/tls-client", {"configure": ".*", "write": ".*", "read": ".*"})
    yield node
    node.stop()


def tls_answer(context=None, credentials=None, ssl_on=True, client_certificate="client.pem", cafile=True, port=None,
               url=False, server_hostname="localhost"):
    def tls_client_parameters_for(node):
        def tls_client_parameters():
            import ssl

            chosen = context() if context else ssl.create_default_context(
                cafile=str(node.certificates / "ca.pem") if cafile else None)
            if client_certificate:
                chosen.load_cert_chain(str(node.certificates / client_certificate))
            if url:
                parameters = pika.URLParameters(f"amqps://localhost:{node.amqps_port}/")
                parameters.ssl_options = pika.SSLOptions(chosen, "localhost")
                parameters.credentials = pika.credentials.ExternalCredentials()
                return parameters
            return pika.ConnectionParameters(
                host="localhost", port=port(node) if port else node.amqps_port,
                ssl_options=pika.SSLOptions(chosen, server_hostname) if ssl_on else None,
                credentials=credentials or pika.credentials.ExternalCredentials())
        return tls_client_parameters
    return tls_client_parameters_for


def name_unchecked_context():
    import ssl

    context = ssl.create_default_context(cafile=str(NODE_CERTIFICATES[0] / "ca.pem"))
    context.check_hostname = False  # the certificate verified, its name not
    return context


def optional_verification_context():
    import ssl

    context = ssl.create_default_context(cafile=str(NODE_CERTIFICATES[0] / "ca.pem"))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def unverified_context_with_the_ca():
    import ssl

    return ssl._create_unverified_context(cafile=str(NODE_CERTIFICATES[0] / "ca.pem"))


def bare_client_context():
    import ssl

    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, but trusts no CA at all


NODE_CERTIFICATES = []


def unverified_context():
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@pytest.mark.parametrize("answer, expected", [
    (lambda node: (lambda: None), "❌"),
    (tls_answer(ssl_on=False), "❌"),
    (tls_answer(context=unverified_context), "❌"),
    (tls_answer(cafile=False), "❌"),
    (tls_answer(client_certificate=False), "❌"),
    (tls_answer(credentials=pika.PlainCredentials(settings().user, settings().password)), "❌"),
    (tls_answer(credentials=pika.PlainCredentials("tls-client", "")), "❌"),
    (tls_answer(port=lambda node: node.ports["amqp"]), "❌"), (tls_answer(client_certificate="client.crt"), "❌"),
    (tls_answer(context=name_unchecked_context), "❌"), (tls_answer(context=optional_verification_context), "❌"),
    (tls_answer(context=unverified_context_with_the_ca), "❌"), (tls_answer(context=bare_client_context), "❌"),
    (tls_answer(server_hostname="broker.example.com"), "❌"),
    (tls_answer(server_hostname="tls-client"), "❌"),
    (lambda node: (lambda: pika.URLParameters(f"amqps://localhost:{node.amqps_port}/")), "❌"),
    (lambda node: (lambda: "amqps://localhost:5671/"), "❌"),
    (tls_answer(url=True), "✅"), (tls_answer(), "✅"), (tls_answer(server_hostname="127.0.0.1"), "✅"),
    (tls_answer(server_hostname=None), "✅"),  # pika then checks the name against host="localhost"
], ids=["left empty", "no TLS", "verifies nothing", "trusts the wrong CAs", "no client certificate", "a password",
        "an empty password", "the plain port", "a missing file", "name not checked", "verification optional",
        "unverified context with the CA", "a bare client context (no CA)", "another server name",
        "the client's name as the server's", "URL without ssl options", "a URL string", "URL parameters", "solution",
        "solution by IP address", "solution, the name taken from host"])
def test_12_exercise_2_tls_client_certificate(tls_node, capsys, answer, expected):
    checks.check_tls_client_certificate(answer(tls_node), tls_node)
    assert verdict(capsys) == expected


def test_12_exercise_2_a_password_given_to_tls_client(tls_node, capsys):
    """A learner who gives tls-client a password and logs in with it, over TLS and with the client
    certificate loaded: the broker reports PLAIN, not EXTERNAL."""
    api = tls_node.api()
    api.put("users/tls-client", {"password": "a-password", "tags": ""})
    try:
        answer = tls_answer(credentials=pika.PlainCredentials("tls-client", "a-password"))(tls_node)
        checks.check_tls_client_certificate(answer, tls_node)
        assert verdict(capsys) == "❌"
    finally:  # as the exercise's given cell does: tls-client again with no password
        api.delete("users/tls-client")
        api.put("users/tls-client", {"password_hash": "", "tags": ""})
        api.put("permissions/%2F/tls-client", {"configure": ".*", "write": ".*", "read": ".*"})
    checks.check_tls_client_certificate(tls_answer()(tls_node), tls_node)
    assert verdict(capsys) == "✅"


def test_12_exercise_1_second_try_and_nothing_left(audit_queues, capsys):
    """A wrong try, then the given cell's reset (the user deleted), then the right answer; the check
    leaves no queue or exchange of its own behind, even where the wrong answer let it make them."""
    audit_queues.put("users/auditor", {"password": "right", "tags": ""})
    audit_queues.put("permissions/team-a/auditor", {"configure": ".*", "write": ".*", "read": ".*"})
    checks.check_read_only_access("auditor", "right", vhost="team-a", queue="audit.log")
    assert verdict(capsys) == "❌"
    leftovers = [item["name"] for kind in ("queues", "exchanges") for item in audit_queues.get(f"{kind}/team-a")
                 if item["name"].startswith("check.")]
    assert leftovers == []
    audit_queues.delete("users/auditor")
    audit_queues.put("users/auditor", {"password": "right", "tags": ""})
    audit_queues.put("permissions/team-a/auditor", {**NOTHING, "read": "^audit\\.log$"})
    checks.check_read_only_access("auditor", "right", vhost="team-a", queue="audit.log")
    assert verdict(capsys) == "✅"
