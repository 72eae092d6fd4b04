"""Installing a service from the system's packages, for the course's broker and Prometheus.

Where Docker is not there, the course runs RabbitMQ (lesson 00) and Prometheus (lesson 10) from
the system's packages. On Debian and Ubuntu they are installed when that can be done without a
question (as root, or with password-less sudo); elsewhere the learner is told the exact command.
A package's own system service, if it starts one, is stopped: the course runs its own process.

Introduced in lesson 00.
"""

import os
import platform
import shutil
import subprocess
from pathlib import Path

from ..errors import CourseError


def run(command, timeout=60, env=None, check=True):
    """Run a command with a time limit; return its CompletedProcess (output captured)."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise CourseError(f"'{' '.join(map(str, command))}' did not finish within {timeout} s.") from None
    except FileNotFoundError:
        raise CourseError(f"'{command[0]}' is not installed.") from None
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise CourseError(f"'{' '.join(map(str, command[:4]))}' failed: " + " | ".join(output))
    return result


def install_command(apt, brew, dnf=None):
    """The command that installs a package here, as a learner would type it."""
    if platform.system() == "Darwin":
        return f"brew install {brew}"
    if shutil.which("apt-get"):
        return f"sudo apt-get update && sudo apt-get install -y {apt}"
    if dnf and shutil.which("dnf"):
        return f"sudo dnf install -y {dnf}"
    return f"install {apt} from your system's packages (or use Docker)"


def admin_prefix():
    """[] as root, ['sudo', '-n'] with password-less sudo, None when installing would need a question."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def ensure_package(find, package, service, what, brew=None, dnf=None):
    """What ``find()`` returns (a path), installing ``package`` first where it is missing and that
    can be done without asking; else a CourseError that says what ``what`` needs and the command
    to run. One way for the broker, Prometheus and the browser tests' Chromium."""
    found = find()
    if found:
        return found
    command = install_command(apt=package, brew=brew or package, dnf=dnf)
    install_debian_package(package, service, missing_message=f"{what} Install it, then run the command again: {command}")
    found = find()
    if not found:
        raise CourseError(f"{package} was installed but was not found where expected. Try: {command}")
    return found


def install_debian_package(package, service, missing_message):
    """apt-get install ``package`` if that can be done without asking, then stop its ``service``
    (``None`` for a package that runs none).

    Raises a CourseError with ``missing_message`` (which should end with the install command)
    where it cannot.
    """
    prefix = admin_prefix() if shutil.which("apt-get") else None
    if prefix is None:
        raise CourseError(missing_message)
    print(f"Installing {package} from the system's packages (apt-get install {package})...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=300"]  # wait for another apt run rather than fail
    install = prefix + ["apt-get", "install", "-y", "-q", "--no-install-recommends", *lock, package]
    if run(install, timeout=900, env=env, check=False).returncode != 0:  # the package lists may be missing or old
        run(prefix + ["apt-get", "update", "-q", *lock], timeout=600, env=env)
        run(install, timeout=900, env=env)
    if service:
        stop_system_service(service, prefix)


def stop_system_service(service, prefix):
    """The package may start a system-wide copy of the service on the course's ports: stop it."""
    if shutil.which("systemctl") and subprocess.run(["systemctl", "is-active", "--quiet", service], capture_output=True).returncode == 0:
        print(f"Stopping the system's {service} service (the course runs its own)...", flush=True)
        subprocess.run(prefix + ["systemctl", "disable", "--now", service], capture_output=True, timeout=120)
    elif Path(f"/etc/init.d/{service}").exists() and subprocess.run([f"/etc/init.d/{service}", "status"], capture_output=True, timeout=30).returncode == 0:
        print(f"Stopping the system's {service} service (the course runs its own)...", flush=True)
        subprocess.run(prefix + [f"/etc/init.d/{service}", "stop"], capture_output=True, timeout=60)
