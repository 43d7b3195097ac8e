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
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mboxfmt import is_killed_tail, prefix_of_record, split  # noqa: E402


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
    killed = is_killed_tail(tail)
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
