"""A second RabbitMQ node beside the course's broker, with a TLS listener (lesson 12).

    node = TLSNode(certificates)     # a folder with ca.pem, server.pem and server.key
    node.start()                     # about 5 s; node.amqps_port, node.api()
    ...
    node.stop()

It runs from the system's ``rabbitmq-server`` package, like the local backend (installed where
that can be done), whatever backend runs the course's broker, so that TLS can be switched on
and off without touching the course's broker. Its state is in ``.broker-tls/`` (beside the
course's node's state); it listens on 127.0.0.1 only: AMQP over TLS on 5671 (the standard
port) and plain AMQP on 5673, its management API on 15673, when the course's broker has the
usual ports; 1000 above the course broker's ports otherwise (the test suite's private nodes).
It stops by itself when the process that started it ends (a kernel shut down or interrupted).
It takes password logins over TLS, and logins by client certificate (the ``EXTERNAL``
mechanism, from the bundled ``rabbitmq_auth_mechanism_ssl`` plugin): the certificate's common
name is the user's name.

Introduced in lesson 12.
"""

import os
import shutil
from pathlib import Path

from ..config import settings
from ..errors import CourseError
from ..management import ManagementAPI
from . import broker

PLUGINS = "[rabbitmq_management,rabbitmq_auth_mechanism_ssl]."


def _ports():
    """The TLS node's ports: the standard ones next to a course broker on the usual ports."""
    current = settings()
    if current.amqp_port == 5672:
        return {"amqps": 5671, "amqp": 5673, "management": 15673, "prometheus": 15693}
    return {"amqps": current.amqp_port + 1000, "amqp": current.amqp_port + 1100,
            "management": current.management_port + 1000, "prometheus": current.prometheus_port + 1000}


class TLSNode:
    """A RabbitMQ node of the lesson's own, with TLS, started and stopped by the lesson."""

    def __init__(self, certificates):
        self.certificates = Path(certificates) if certificates is not None else None
        self.ports = _ports()
        self.state = broker.state_beside("-tls")
        self.amqps_port = self.ports["amqps"]

    def _node(self):
        """The broker module's local node, with this node's settings, state and plugins (passed to
        it: the process's settings stay as they are, so no other thread is pointed here)."""
        current = broker.settings_on_ports(self.ports["amqp"], self.ports["management"], self.ports["prometheus"])
        return broker.LocalNode(current=current, state=self.state, plugins_file=self.state / "enabled_plugins")

    def _configure(self, node):
        node.environment()  # writes the course's configuration into the node's conf.d
        (self.state / "enabled_plugins").write_text(PLUGINS + "\n")
        (self.state / "conf.d" / "50-tls.conf").write_text(
            "# Written by helpers/ops/tls_node.py for lesson 12.\n"
            f"listeners.ssl.default = 127.0.0.1:{self.ports['amqps']}\n"
            f"ssl_options.cacertfile = {self.certificates / 'ca.pem'}\n"
            f"ssl_options.certfile = {self.certificates / 'server.pem'}\n"
            f"ssl_options.keyfile = {self.certificates / 'server.key'}\n"
            "ssl_options.verify = verify_peer\n"
            "ssl_options.fail_if_no_peer_cert = false\n"
            "auth_mechanisms.1 = PLAIN\n"
            "auth_mechanisms.2 = AMQPLAIN\n"
            "auth_mechanisms.3 = EXTERNAL\n"
            "ssl_cert_login_from = common_name\n"
        )

    def start(self):
        """Start the node afresh (a node left running by an interrupted lesson is stopped first)."""
        for name in ("ca.pem", "server.pem", "server.key"):
            if not (self.certificates / name).is_file():
                raise CourseError(f"No {name} in {self.certificates}: make the certificates first (lesson 12 shows how).")
        self.stop()
        node = self._node()
        broker.check_ports_free(node.current, more_ports={"AMQP over TLS": self.amqps_port}, wait=20,
                                who="the TLS node", advice="Stop it, and run the cell again.")
        shutil.rmtree(self.state / "data", ignore_errors=True)
        self._configure(node)
        node.up(owner=os.getpid())  # it stops with this process (a lesson's kernel), however that ends

    def ctl(self, *args):
        """``rabbitmqctl`` on this node."""
        return self._node().ctl(*args)

    def api(self):
        """The management API of this node, as the course's user."""
        current = settings()
        return ManagementAPI(f"http://localhost:{self.ports['management']}", current.user, current.password)

    def stop(self):
        """Stop the node, if it runs."""
        node = self._node()
        if node.is_running():
            node.down()
