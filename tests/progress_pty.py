#!/usr/bin/env python3
"""Progress lines of the long commands, checked under a pseudo-terminal (issue #22, point 2).

Usage: tests/progress_pty.py CLUSTERSIM DATA_DIR OUT_DIR

Each command runs three times: with stderr on a pseudo-terminal (the progress line must appear, drawn in place with
"\\r\\033[K" and naming what it counts), with -q on the pseudo-terminal (no progress), and with stderr on a pipe (no
progress: not a terminal). Standard library only (pty, os, subprocess).
"""
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

ERASE = b"\r\x1b[K"


def under_pty(argv):
    """Runs argv with stdout and stderr on a new pseudo-terminal; returns everything written to it."""
    pid, fd = pty.fork()
    if pid == 0:
        # A wide terminal, so that nested levels are not cut to the width.
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))
        os.execv(argv[0], argv)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s exited %d under a pty:\n%s" % (" ".join(argv), os.waitstatus_to_exitcode(status), out.decode()))
    return out


def main():
    cs, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    small = os.path.join(data, "plan", "tiny.textproto")
    commands = [
        ("run", [cs, "run"], [b"stage", b"phase solves"]),
        ("coll", [cs, "coll", small, "-s", "1M", "64M", "-g", "16"], [b"sizes"]),
        ("plan", [cs, "plan", small, "--top", "1"], [b"plans examined", b"candidates", b"phase solves"]),
        ("goal", [cs, "goal", small, "--deadline-days", "2", "--max-gpus", "32"],
         [b"cluster sizes", b"stage"]),
        ("goodput", [cs, "goodput", small, "--trials", "300"], [b"part", b"trials"]),
        ("sweep", [cs, "sweep", os.path.join(data, "sweep", "small.textproto"), "--max-points", "2", "--out",
                   os.path.join(out, "sweep")], [b"points", b"stage"]),
    ]
    failures = []
    for name, argv, expected in commands:
        if name == "sweep":
            subprocess.run(["rm", "-rf", os.path.join(out, "sweep")], check=True)
        shown = under_pty(argv)
        missing = [e.decode() for e in expected if e not in shown]
        if ERASE not in shown or missing:
            failures.append("%s: no progress line on a terminal (missing %s)" % (name, missing or ["\\r\\033[K"]))
        if name == "sweep":
            subprocess.run(["rm", "-rf", os.path.join(out, "sweep")], check=True)
        quiet = under_pty(argv + ["-q"])
        if ERASE in quiet:
            failures.append("%s -q: progress drawn although quiet" % name)
        if name == "sweep":
            subprocess.run(["rm", "-rf", os.path.join(out, "sweep")], check=True)
        piped = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True).stderr
        if ERASE in piped:
            failures.append("%s: progress drawn although stderr is not a terminal" % name)
        print("%-8s terminal: %d bytes of output, progress %s" % (name, len(shown),
                                                               "drawn" if ERASE in shown else "missing"))
    if failures:
        sys.exit("\n".join(failures))
    print("progress: drawn on a terminal, quiet with -q and on a pipe, for %d commands" % len(commands))


if __name__ == "__main__":
    main()
