"""Kernels the tests start take their ports outside the range the system hands to outgoing
connections, so none of the suite's own connections can take a port a kernel is about to bind."""
import pytest
from jupyter_client.connect import LocalPortCache
from jupyter_client.manager import start_new_kernel

from kernel_ports import WorkerKernelPorts, outgoing_port_range


def test_a_test_workers_kernel_listens_outside_the_ports_given_to_outgoing_connections():
    ports_of_this_worker = LocalPortCache.instance()  # installed by conftest.py in every test worker
    if not isinstance(ports_of_this_worker, WorkerKernelPorts):
        pytest.skip("a serial run (no test workers) starts its kernels as jupyter_client does")
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
