"""A pytest fork server for mutation testing: the third-party imports are paid once, each run is a fresh fork.

A mutant's test run is mostly start-up: numpy, scikit-learn, pytest and its plugins take about 10 seconds to
import on the shared test machine, the tests themselves under one. ``serve`` imports every third-party module the
tests' collection imports, then, for each request on a Unix socket, forks a child that runs ``pytest.main`` in the
directory it serves; the child imports the project (``distillguard``, ``tests``) from disk, so it sees the mutant
cosmic-ray has just written. ``run`` is the test command cosmic-ray calls: it sends its arguments, streams the
output back and exits with pytest's code; when nothing serves the directory it runs pytest itself.

    python -m tests.warm_pytest serve tests/detector/test_linking_rules.py   # in the tree, in the background
    python -m tests.warm_pytest run -x -q tests/detector/test_linking_rules.py
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys

SOCKET = "warm-pytest.sock"  # relative to the directory served: Unix socket paths are short
TRAILER = b"\0exit="  # after the child's output, the server sends this and pytest's exit code
POLL = 0.05  # seconds between checks of the child and of the client's connection
OWN = ("distillguard", "tests", "__main__", "conftest")  # imported fresh by every child, never preloaded


def third_party_modules(test_args: list[str]) -> list[str]:
    """The modules (other than the project's) that collecting ``test_args`` imports, found in a subprocess so that
    this process imports nothing of the project."""
    probe = (
        "import sys, pytest\n"
        "pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', *sys.argv[1:]])\n"
        f"own = {OWN!r}\n"
        "print('\\n'.join(m for m in sorted(sys.modules) if m.split('.')[0] not in own))\n"
    )
    out = subprocess.run(
        [sys.executable, "-B", "-c", probe, *test_args], capture_output=True, text=True, check=False
    ).stdout
    return [line for line in out.splitlines() if line and " " not in line and "::" not in line and "/" not in line]


def preload(names: list[str]) -> int:
    """Import ``names`` (those that fail to import on their own are left to the children); how many imported."""
    done = 0
    for name in names:
        try:
            importlib.import_module(name)
            done += 1
        except Exception:  # noqa: BLE001 - a private submodule may need its parent's context: the child imports it
            continue
    return done


def serve(test_args: list[str]) -> None:
    """Preload the third-party modules of ``test_args``' tests, then answer ``run`` requests until killed."""
    sys.dont_write_bytecode = True  # a mutant may keep its file's size and mtime: never leave bytecode behind
    loaded = preload(third_party_modules(test_args))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(SOCKET)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(SOCKET)
    server.listen()
    print(f"warm pytest: {loaded} modules preloaded, serving {os.getcwd()}", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            answer(conn)


def answer(conn: socket.socket) -> None:
    """Run one request in a forked child whose output goes to ``conn``; send the exit code after it. A client
    that hangs up (cosmic-ray's timeout killed it) has its child killed."""
    request = conn.makefile("rb").readline()
    args = json.loads(request)
    pid = os.fork()
    if pid == 0:  # the child: a fresh pytest in the served directory
        os.dup2(conn.fileno(), 1)
        os.dup2(conn.fileno(), 2)
        import pytest

        code = pytest.main(["-W", "ignore::pytest.PytestAssertRewriteWarning", *args])  # plugins came preloaded
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            conn.sendall(TRAILER + str(os.waitstatus_to_exitcode(status)).encode())
            return
        readable, _, _ = select.select([conn], [], [], POLL)
        if readable and not conn.recv(1, socket.MSG_PEEK):  # the client hung up
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return


def run(args: list[str]) -> int:
    """pytest's exit code for ``args``, run by the server of this directory or, when there is none, here."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(SOCKET)
    except (FileNotFoundError, ConnectionRefusedError):
        return subprocess.call([sys.executable, "-B", "-m", "pytest", *args])
    with client:
        client.sendall(json.dumps(args).encode() + b"\n")
        received = b"".join(iter(lambda: client.recv(1 << 16), b""))
    output, found, code = received.rpartition(TRAILER)
    if not found:  # the server died mid-run: its verdict is unknown, so run the tests here
        return subprocess.call([sys.executable, "-B", "-m", "pytest", *args])
    sys.stdout.buffer.write(output)
    return int(code)


def main(argv: list[str]) -> int:
    """``serve TEST_ARGS...`` or ``run PYTEST_ARGS...``."""
    if len(argv) < 1 or argv[0] not in ("serve", "run"):
        print("usage: python -m tests.warm_pytest serve|run ARGS...", file=sys.stderr)
        return 2
    if argv[0] == "serve":
        serve(argv[1:])
        return 0
    return run(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
