#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Drive a program through a pseudo-terminal, as a user at a keyboard.

  pty-client.py [--timeout SECS] [--log FILE] STEP... -- CMD [ARG...]

Runs CMD with a new pseudo-terminal (80x24, TERM=vt100 unless set) as its
stdin, stdout and stderr, then takes the STEPs in order:

  expect=TEXT   wait until TEXT shows up in the screen output after the
                point the last expect matched (so a prompt printed by
                libedit's readline, with whatever escape sequences around
                it, is still found)
  type=TEXT     type TEXT and Return (CR, as a keyboard sends it)

After the last step it waits for CMD to end. Every wait is bounded by
SECS (default 20) in all. Everything CMD wrote to the terminal is saved,
raw, in the --log FILE. Prints "EXIT n" (or "SIGNAL n") on stdout when CMD
ended; exit status 0 when every step was met and CMD ended, 1 otherwise
(with what it was waiting for and the screen so far on stderr).
"""

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def main(argv):
    timeout, log = 20.0, None
    args = argv[1:]
    while args and args[0] in ("--timeout", "--log"):
        if args[0] == "--timeout":
            timeout = float(args[1])
        else:
            log = args[1]
        args = args[2:]
    if "--" not in args:
        sys.exit(__doc__)
    split = args.index("--")
    steps, cmd = args[:split], args[split + 1:]
    if not cmd:
        sys.exit(__doc__)

    pid, fd = pty.fork()
    if pid == 0:
        os.environ.setdefault("TERM", "vt100")
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

    deadline = time.monotonic() + timeout
    screen = bytearray()
    mark = 0
    eof = False

    def pump(wait):
        """Read what the program wrote, waiting at most wait seconds."""
        nonlocal eof
        if eof:
            return
        ready, _, _ = select.select([fd], [], [], max(0.0, wait))
        if not ready:
            return
        try:
            data = os.read(fd, 65536)
        except OSError:		# EIO: the program closed the terminal
            data = b""
        if not data:
            eof = True
        screen.extend(data)

    def give_up(what):
        sys.stderr.write("pty-client: timed out or ended waiting for %s\n"
                         "screen so far:\n%r\n" % (what, bytes(screen)))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(pid, 0)
        finish(1)

    def finish(status):
        if log:
            with open(log, "wb") as f:
                f.write(screen)
        sys.exit(status)

    for step in steps:
        kind, _, text = step.partition("=")
        if kind == "expect":
            want = text.encode()
            while True:
                at = screen.find(want, mark)
                if at >= 0:
                    mark = at + len(want)
                    break
                left = deadline - time.monotonic()
                if left <= 0 or eof:
                    give_up(repr(text))
                pump(min(left, 0.2))
        elif kind == "type":
            os.write(fd, text.encode() + b"\r")
        else:
            sys.exit("pty-client: unknown step " + step)

    # Read to the end, so the program never blocks on a full terminal.
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            give_up("the program to end")
        pump(min(left, 0.2))
    while not eof:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            break
        pump(0)
    if os.WIFSIGNALED(status):
        print("SIGNAL %d" % os.WTERMSIG(status))
    else:
        print("EXIT %d" % os.WEXITSTATUS(status))
    finish(0)


if __name__ == "__main__":
    main(sys.argv)
