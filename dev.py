#!/usr/bin/env python3
"""Bootstrap: make .venv, install earlywarn into it when needed, then run a command there.

    python3 dev.py demo [args]     # the embedded demo (same as `earlywarn demo`)
    python3 dev.py test [args]     # the test suite (pytest in two processes; starts its own brokers)
    python3 dev.py <any earlywarn command> [args]

Only the Python standard library is used here, so it works on a fresh machine with
Python 3.11+. The install is redone when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".earlywarn-installed"


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"earlywarn needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", file=sys.stderr, flush=True)
        venv.create(VENV, with_pip=True)
    print("dev.py: installing earlywarn and its dependencies into .venv (first run takes a minute)",
          file=sys.stderr, flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "-q", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-q", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    ensure_env()
    if argv[0] == "test":
        # Two processes (pytest-xdist), a test file each at a time: most of the suite's time is
        # spent waiting on brokers, workers and Redis, not computing. `-n 0` runs it in one.
        parallel = [] if any(a.startswith(("-n", "--numprocesses")) for a in argv[1:]) \
            else ["-n", "2", "--dist", "loadfile"]
        cmd = [str(BIN / "python"), "-m", "pytest", *parallel, *argv[1:]]
    else:
        cmd = [str(BIN / "earlywarn"), *argv]
    os.chdir(ROOT)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
