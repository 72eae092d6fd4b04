"""The root of the other Debian release (tools/test_in_debian_root.sh) is made from the archive
this machine's apt uses, read from apt's own sources, never from a host written in the script."""

import importlib.util
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "debian_mirror.py"
spec = importlib.util.spec_from_file_location("debian_mirror", TOOL)
debian_mirror = importlib.util.module_from_spec(spec)
spec.loader.exec_module(debian_mirror)


def test_deb822_sources_give_the_release_archive_not_security_or_others(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main contrib\n")
    assert debian_mirror.mirror("bookworm", tmp_path) == "http://mirror.example/debian"
    assert debian_mirror.mirror("trixie", tmp_path) is None


def test_one_line_sources_with_options(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian trixie main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://proxy.example:3142/debian trixie main non-free\n")
    assert debian_mirror.mirror("trixie", tmp_path) == "http://proxy.example:3142/debian"


def test_this_machines_release_has_an_archive_or_the_tool_says_what_to_set():
    release = subprocess.run(["sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"], capture_output=True, text=True).stdout.strip()
    result = subprocess.run([sys.executable, str(TOOL), release], capture_output=True, text=True)
    if result.returncode == 0:
        assert result.stdout.strip().startswith(("http://", "https://", "file:"))
    else:
        assert "DEBIAN_MIRROR" in result.stderr
