# SPDX-License-Identifier: MIT
"""mboxfmt: my_mailbox.txt read as sockmail-mailbox(5) defines it, for the
test tools (tail_state.py, model.py), written apart from the C reader so
that it can check it: where the whole messages end, each message, what the
bytes after them (a tail) are.

Messages end at a line holding only "." (a CR before the LF is part of the
line ending); a "." at the very end without its LF still ends one. A tail
that only a killed delivery can leave is text without a NUL (none, or the
start of a record, which begins "From: "), then NULs to the end.
"""

import re

RECEIVED = re.compile(rb"^Received: \d{4}-\d{2}-\d{2} : \d{2} : \d{2}$")
RECORD_START = b"From: "


def _dot_lines(data):
    """The offsets one past each "." line of data (or one past a "." at
    its very end without an LF)."""
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            if data[pos:] in (b".", b".\r"):
                yield len(data)
            return
        if data[pos:nl] in (b".", b".\r"):
            yield nl + 1
        pos = nl + 1


def split(data):
    """(whole, tail, count): the bytes up to the end of the last message,
    the bytes after it, and how many messages there are."""
    end = count = 0
    for end in _dot_lines(data):
        count += 1
    return data[:end], data[end:], count


def messages(data):
    """(messages, tail): the bytes of each whole message of data, its "."
    line included, and the bytes after the last one."""
    out, start = [], 0
    for end in _dot_lines(data):
        out.append(data[start:end])
        start = end
    return out, data[start:]


def lines(msg):
    """The content lines of one message as a reader serves them: line
    endings (LF, or CR LF) taken off, the "." line left out; still
    dot-stuffed as stored."""
    out = msg.split(b"\n")
    if out and out[-1] == b"":
        out.pop()
    out = [ln[:-1] if ln.endswith(b"\r") else ln for ln in out]
    if out and out[-1] == b".":
        out.pop()
    return out


def unstuff(line):
    """A stored (or wire) line without the "." a writer put in front."""
    return line[1:] if line.startswith(b".") else line


def is_killed_tail(tail):
    """Whether tail can only be what a delivery killed in the middle of
    its append leaves (sockmail-mailbox(5)): the next writer cuts it off
    instead of moving it to a side file."""
    text = tail.split(b"\0", 1)[0]
    return (b"\0" in tail and tail[len(text):].strip(b"\0") == b"" and
            (text.startswith(RECORD_START) or RECORD_START.startswith(text)))


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
