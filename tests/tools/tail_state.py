#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tail_state.py MAILBOX [RECORD]: how a my_mailbox.txt ends, as
sockmail-mailbox(5) reads it, on one line of stdout:

  whole N         the file ends right after its last "." line (or a "."
                  without its LF): N messages, no tail (also for an empty
                  or missing file: "whole 0")
  killed N T K    N whole messages, then a tail of T bytes that only a
                  killed delivery can leave: K bytes without a NUL (none,
                  or starting "From: "), then NULs to the end of the file
  foreign N T     N whole messages, then a tail of T bytes of any other
                  kind (the next writer moves it to a side file)

With RECORD (a file holding the record the killed delivery was writing,
its Received: line as the delivery wrote it or not), a "killed" tail must
also be where that record would be: its K bytes a prefix of RECORD (a
Received: line compared by its form only) and T the length of RECORD;
else the verdict is "foreign" and a note goes to stderr.

Messages end at a line holding only "." (a CR before the LF is part of
the line ending); a "." at the very end without its LF still ends one.
"""

import os
import re
import sys

RECEIVED = re.compile(rb"^Received: \d{4}-\d{2}-\d{2} : \d{2} : \d{2}$")


def split(data):
    """(whole, tail, messages)."""
    end = count = pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            if data[pos:] in (b".", b".\r"):
                end, count = len(data), count + 1
            break
        line = data[pos:nl]
        if line in (b".", b".\r"):
            end, count = nl + 1, count + 1
        pos = nl + 1
    return data[:end], data[end:], count


def prefix_of_record(text, record):
    """Whether text is how record begins, its Received: line compared by
    form only (the minute may differ)."""
    if len(text) > len(record):
        return False
    got = text.split(b"\n")
    want = record[:len(text)].split(b"\n")
    full = record.split(b"\n")
    for i, (g, w) in enumerate(zip(got, want)):
        if g.startswith(b"Received: ") or w.startswith(b"Received: "):
            last = i == len(got) - 1
            if last:
                if not full[i].startswith(b"Received: ") or \
                        len(g) > len(full[i]):
                    return False
                continue
            if not (RECEIVED.match(g) and RECEIVED.match(full[i])):
                return False
        elif g != w:
            return False
    return True


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 64
    data = b""
    if os.path.exists(sys.argv[1]):
        with open(sys.argv[1], "rb") as f:
            data = f.read()
    whole, tail, count = split(data)
    if not tail:
        print("whole %d" % count)
        return 0
    text = tail.split(b"\0", 1)[0]
    killed = (b"\0" in tail and tail[len(text):].strip(b"\0") == b"" and
              (text == b"" or text.startswith(b"From: ") or
               b"From: ".startswith(text)))
    if killed and len(sys.argv) == 3:
        with open(sys.argv[2], "rb") as f:
            record = f.read()
        if len(tail) != len(record) or not prefix_of_record(text, record):
            sys.stderr.write("tail_state: a tail of %d bytes, %d of text, "
                             "is not the start of the %d-byte record: %r\n"
                             % (len(tail), len(text), len(record),
                                text[:200]))
            killed = False
    if killed:
        print("killed %d %d %d" % (count, len(tail), len(text)))
    else:
        print("foreign %d %d" % (count, len(tail)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
