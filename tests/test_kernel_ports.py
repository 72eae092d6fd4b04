"""Kernels the tests start take their ports outside the range the system hands to outgoing
connections, so none of the suite's own connections can take a port a kernel is about to bind."""
import pytest
from jupyter_client.connect import LocalPortCache
from jupyter_client.manager import start_new_kernel

from kernel_ports import WorkerKernelPorts, free_port, outgoing_port_range


@pytest.fixture
def ports_of_this_worker():
    ports = LocalPortCache.instance()  # installed by conftest.py in every test worker
    if not isinstance(ports, WorkerKernelPorts):
        pytest.skip("a serial run (no test workers) starts its kernels as jupyter_client does")
    return ports


def test_a_test_workers_kernel_listens_outside_the_ports_given_to_outgoing_connections(ports_of_this_worker):
    block = ports_of_this_worker.block
    low, high = outgoing_port_range()
    assert block.stop <= low or block.start > high
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.execute_interactive("print(6 * 7)", timeout=30)
        assert reply["content"]["status"] == "ok"
        ports = [manager.shell_port, manager.iopub_port, manager.stdin_port, manager.hb_port, manager.control_port]
        assert len(set(ports)) == 5 and all(port in block for port in ports), ports
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_lab_port_comes_from_the_workers_block(ports_of_this_worker):
    """A lab server a test starts listens on a port no outgoing connection can have taken."""
    port = free_port()
    assert port in ports_of_this_worker.block
    assert not outgoing_port_range()[0] <= port <= outgoing_port_range()[1]
