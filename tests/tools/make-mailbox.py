#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make-mailbox.py PATH COUNT [SIZE] [--huge BYTES]: write a well-formed
my_mailbox.txt (sockmail-mailbox(5)) of COUNT messages of about SIZE bytes each
(default 2048), "Subject: message N" for N from 1, and with --huge one
more message at the end whose body is BYTES of 63-character lines. Used by
the tests and the benchmarks that need big mailboxes fast.
"""

import argparse

LINE = b"x" * 63 + b"\n"


def record_head(number):
    return (b"From: sender@example.org\nTo: user@example.org\n"
            b"Subject: message %d\nReceived: 2026-11-27 : 21 : 04\n" % number)


def record(number, size):
    """One record of about SIZE bytes: head, 64-byte lines, padding, '.'."""
    head = record_head(number)
    room = max(size - len(head) - 2, 1)
    lines, rest = divmod(room, len(LINE))
    pad = b"y" * (rest - 1) + b"\n" if rest > 1 else b""
    return head + LINE * lines + pad + b".\n"


def write_huge(out, number, size):
    out.write(record_head(number))
    chunk = LINE * 16384
    left = size // len(LINE)
    while left > 0:
        lines = min(left, 16384)
        out.write(chunk if lines == 16384 else LINE * lines)
        left -= lines
    out.write(b".\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("count", type=int)
    parser.add_argument("size", type=int, nargs="?", default=2048)
    parser.add_argument("--huge", type=int, metavar="BYTES")
    args = parser.parse_args()
    with open(args.path, "wb") as out:
        batch = []
        for number in range(1, args.count + 1):
            batch.append(record(number, args.size))
            if len(batch) == 4096:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
        if args.huge:
            write_huge(out, args.count + 1, args.huge)


if __name__ == "__main__":
    main()
