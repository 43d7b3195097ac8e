#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mbox_check.py FILE: check that FILE is a well-formed my_mailbox.txt
(sockmail-mailbox(5)) and print the Subject: value of each message, one a line.

Every record must be From:, To:, Subject:, Received: YYYY-MM-DD : HH : MM,
then content lines (none holding only "."; any starting with "." stuffed,
i.e. starting with ".."), then the "." line; the file must end right after
a "." line (or be empty). Problems go to stderr, and the exit status is 1.
"""

import re
import sys

RECEIVED = re.compile(r"^Received: \d{4}-\d{2}-\d{2} : \d{2} : \d{2}$")


def check(path):
    with open(path, "rb") as f:
        data = f.read()
    errors = []
    subjects = []
    if data and not data.endswith(b"\n.\n") and data != b".\n":
        errors.append("file does not end with a '.' line")
    if b"\r" in data:
        errors.append("file holds a CR")
    record = []
    for lineno, raw in enumerate(data.split(b"\n")[:-1], 1):
        line = raw.decode("utf-8", "replace")
        if line != ".":
            if line.startswith(".") and not line.startswith(".."):
                errors.append("line %d: unstuffed leading dot" % lineno)
            record.append(line)
            continue
        start = lineno - len(record)
        if len(record) < 4:
            errors.append("record at line %d: fewer than 4 lines" % start)
        else:
            for want, got in zip(("From: ", "To: ", "Subject: "), record):
                if not got.startswith(want):
                    errors.append("record at line %d: %r where %r expected"
                                  % (start, got, want))
            if not RECEIVED.match(record[3]):
                errors.append("record at line %d: bad Received: %r"
                              % (start, record[3]))
            subjects.append(record[2][len("Subject: "):])
        record = []
    for s in subjects:
        print(s)
    for e in errors[:20]:
        sys.stderr.write("%s: %s\n" % (path, e))
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(64)
    sys.exit(check(sys.argv[1]))
