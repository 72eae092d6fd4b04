"""The notebook kernels a test worker starts listen on ports of that worker's own.

A kernel's five ports are chosen by asking the system for a free one (jupyter_client binds port
0), then bound by the kernel a moment later. The system hands out those same ports to outgoing
connections, and the suite opens thousands of them (AMQP, the management API), so now and then
one is taken in between: the kernel dies at start ("Kernel died before replying to kernel_info")
and a whole lesson errors (a CI run lost lesson 11 that way). Here each test worker takes its
kernels' ports from a block of its own below the system's range for outgoing connections, where
nothing is handed out unasked. The lab servers the tests start take their port from the same
block (a CI run lost a browser test to "port 60957 is already in use").
"""
import socket
from pathlib import Path

from jupyter_client.connect import LocalPortCache

PORTS_PER_WORKER = 150


def outgoing_port_range():
    """The ports the system gives outgoing connections (Linux's default when it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def is_free(port):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class WorkerKernelPorts(LocalPortCache):
    """jupyter_client's port cache, handing out the ports of one block, round and round."""

    def __init__(self, first, count, **kwargs):
        super().__init__(**kwargs)
        self.block = range(first, first + count)
        self.next = 0

    def find_available_port(self, ip):
        for _ in self.block:
            port = self.block[self.next % len(self.block)]
            self.next += 1
            if port not in self.currently_used_ports and is_free(port):
                self.currently_used_ports.add(port)
                return port
        raise RuntimeError(f"no free port for a notebook kernel in {self.block.start}-{self.block.stop - 1}")


def use_ports_of_worker(number, workers_at_most):
    """Make every kernel this process starts take its ports from worker ``number``'s block."""
    first = outgoing_port_range()[0] - PORTS_PER_WORKER * workers_at_most + PORTS_PER_WORKER * number
    return WorkerKernelPorts.instance(first, PORTS_PER_WORKER).block


def free_port():
    """A free port for a server a test starts (a lab), from this worker's block when it has one."""
    return LocalPortCache.instance().find_available_port("127.0.0.1")
