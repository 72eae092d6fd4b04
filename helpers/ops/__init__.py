"""Running the course's services from the command line: the broker (``python -m
helpers.ops.broker up|down|status|...``, what ``make broker`` calls), a Prometheus server, and
the system packages both are installed from. The lessons only read the broker's description
from here; they never start or stop anything but through these modules.
"""
