"""The Debian archive this machine's apt uses, for a root of another release (test_in_debian_root.sh).

    python3 tools/debian_mirror.py bookworm     # prints e.g. http://deb.debian.org/debian

It reads apt's own sources (deb822 ``*.sources`` files and one-line ``*.list`` files), so the root
is made from whatever mirror or proxy this machine is set up to use; the security archive and
other repositories are passed over. Exits 1, saying so, when apt names none for that release.
"""

import re
import sys
from pathlib import Path


def deb822_stanzas(text):
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if fields:
            yield fields


def one_line_entries(text):
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 4 and words[0] == "deb":
            yield words[1], words[2], words[3:]


def mirror(release, apt_dir="/etc/apt"):
    """The first archive URI apt uses for ``release`` (a codename) with the ``main`` component."""
    apt = Path(apt_dir)
    found = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for fields in deb822_stanzas(path.read_text(errors="replace")):
            if (fields.get("enabled", ["yes"])[0].lower() != "no" and "deb" in fields.get("types", [])
                    and release in fields.get("suites", []) and "main" in fields.get("components", [])):
                found += fields.get("uris", [])
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            found += [uri for uri, suite, components in one_line_entries(path.read_text(errors="replace"))
                      if suite == release and "main" in components]
    return found[0].rstrip("/") if found else None


if __name__ == "__main__":
    release = sys.argv[1]
    uri = mirror(release)
    if uri is None:
        print(f"error: apt's sources name no archive for '{release}' with 'main'; set DEBIAN_MIRROR to one.", file=sys.stderr)
        sys.exit(1)
    print(uri)
