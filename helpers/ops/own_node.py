"""A broker of the attendee's own, for the lessons that operate one, in a workshop on a shared broker.

Lessons 06, 11 and 12 restart, reconfigure or administer their broker, and lesson 16's fault
drill restarts it. In a workshop (``COURSE_CLASSROOM`` set, docs/WORKSHOP.md) the room's broker
is shared, so it is never restarted by an attendee. Such a lesson starts with::

    lesson = start_lesson(queues=[...], own_broker="restarts its broker")

Outside a workshop that changes nothing. In one, where this laptop can run a node (the
``rabbitmq-server`` package is installed, or can be without asking), the lesson runs on a node of the attendee's own:
started here afresh on ports of its own (the room's + 1300), with the attendee's login, and stopped
once the last notebook kernel that uses it has ended (a second lesson open beside the first shares
it). The kernel's settings point at it from then on (its workers and scripts inherit
them), while the checks still record their outcomes on the room's broker for the class board.
Where this laptop cannot run a node, one sentence says so and what to do: the lesson stops there,
or, for a lesson whose exercises need no broker of their own (16, ``required=False``), it goes on
on the room's broker and only the drill's cell is refused.
"""

import os
import shutil

from ..config import ROOM_URL, env, on_own_node, settings
from ..errors import CourseError
from . import broker
from .processes import start_keeper

PORT_SHIFT = 1300  # beside the room's ports: TLS +1000/+1100, cluster +1500.., Flower +2000

def use_own_node(what, required=True):
    """In a workshop, move this kernel to a node of the attendee's own (see the module's docstring).

    ``what`` says what the lesson does to its broker ("restarts its broker"), for the messages.
    Returns the node's settings, or None when nothing changed (no workshop, or already moved)."""
    if not env("COURSE_CLASSROOM") or on_own_node():
        return None
    try:
        broker.install_server_package()   # installed where that can be done without asking, like `make broker`
    except CourseError:
        sentence = (f"This lesson {what}, so in a workshop it runs on a broker of your own (the room's is shared), "
                    f"and this laptop has none: install RabbitMQ ({broker.install_command()}) and run this cell again, or ")
        if required:
            raise CourseError(sentence + "watch it on the instructor's screen and go on with the next lesson.") from None
        print(sentence + "go on: the exercises run on the room's broker, and the drill is the instructor's to show.")
        return None
    room = settings()
    own = broker.settings_on_ports(room.amqp_port + PORT_SHIFT, room.management_port + PORT_SHIFT,
                                   room.prometheus_port + PORT_SHIFT)
    state = broker.state_beside("-own")
    node = broker.LocalNode(current=own, state=state)
    kernels = state / "kernels.pid"   # the notebooks' kernels that use the node: it stops after the last one
    shared = node.is_running() and node.owner() is not None
    if shared:
        with kernels.open("a") as listed:
            listed.write(f"{os.getpid()}\n")
        shared = node.owner() is not None   # its keeper may have ended meanwhile: then start anew
    if not shared:
        _start_afresh(node, kernels)
    os.environ.update({
        ROOM_URL: room.amqp_url,
        "BROKER_BACKEND": "local",
        "BROKER_STATE_DIR": str(state),
        "AMQP_URL": own.amqp_url,
        "MANAGEMENT_URL": own.management_url,
        "PROMETHEUS_URL": own.prometheus_url,
    })
    how = "already running for another notebook" if shared else "started here"
    print(f"This lesson {what}, and the room's broker is shared: it runs on a broker of your own, {how} on port "
          f"{own.amqp_port} (management UI {own.management_url}, as {own.user} with your password); it stops once "
          "this notebook's kernel and any other that uses it have ended.")
    return own


def _start_afresh(node, kernels):
    """Start the attendee's node with a new database (a later workshop's login is not refused by an
    old one), owned by a keeper of ``kernels``, once a node that was stopping has freed its ports."""
    if node.is_running():
        node.down()   # one that nobody keeps any more
    broker.check_ports_free(node.current, wait=20, who="your own broker",
                            advice="Close the other lesson notebooks' kernels, and run this cell again.")
    shutil.rmtree(node.state / "data", ignore_errors=True)
    node.state.mkdir(parents=True, exist_ok=True)
    kernels.write_text(f"{os.getpid()}\n")
    node.up(owner=start_keeper(kernels))
