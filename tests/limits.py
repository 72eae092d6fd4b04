"""How long a test lets a bounded wait run before it calls it a hang.

A test that a wait ends (a connect to a closed port, a silent server, an idle consume) asserts
the wait ended, not how fast: the machine's load must never decide the verdict. The waits
themselves have limits of a few seconds; 30 s is far above any machine's noise and far below
pytest's own timeout, so a wait that never ends still fails here, with its name.
"""

NEVER_HANGS = 30.0  # seconds
