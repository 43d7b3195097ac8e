#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Write a PROXY protocol header (HAProxy's proxy-protocol.txt) on stdout.

  proxyhdr.py [OPTION...] v1 SRC DST SPORT DPORT
      "PROXY TCP4 ..." or "PROXY TCP6 ..." (the family SRC's), CR LF.
  proxyhdr.py v1 unknown
      "PROXY UNKNOWN" CR LF.
  proxyhdr.py [OPTION...] v2 SRC DST SPORT DPORT
      The binary header, command PROXY, TCP over IPv4 or IPv6.
  proxyhdr.py [OPTION...] v2 local | v2 unspec
      Command LOCAL (a balancer's health check), or PROXY with the UNSPEC
      family; no addresses.
  Options (v2):
    --tlv TYPE=TEXT   append a TLV (TYPE a number, e.g. 1 for ALPN, 2 for
                      the authority); may be given more than once
    --len N           put N in the length field instead of the true length
                      (to make a malformed header)
    --ver-cmd N       the 13th byte instead of 0x21 / 0x20 (N in any base
                      Python's int(N, 0) reads)
    --fam N           the 14th byte instead of the family's
"""

import ipaddress
import struct
import sys

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def usage():
    sys.exit(__doc__)


def v1(args):
    if args == ["unknown"]:
        return b"PROXY UNKNOWN\r\n"
    if len(args) != 4:
        usage()
    src, dst, sport, dport = args
    fam = "TCP4" if ipaddress.ip_address(src).version == 4 else "TCP6"
    return ("PROXY %s %s %s %s %s\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(args, opts):
    tlvs = b"".join(struct.pack("!BH", t, len(v)) + v for t, v in opts["tlv"])
    if args == ["local"]:
        ver_cmd, fam, block = 0x20, 0x00, b""
    elif args == ["unspec"]:
        ver_cmd, fam, block = 0x21, 0x00, b""
    elif len(args) == 4:
        src = ipaddress.ip_address(args[0])
        dst = ipaddress.ip_address(args[1])
        ver_cmd = 0x21
        fam = 0x11 if src.version == 4 else 0x21
        block = src.packed + dst.packed + struct.pack(
            "!HH", int(args[2]), int(args[3]))
    else:
        usage()
    if opts["ver_cmd"] is not None:
        ver_cmd = opts["ver_cmd"]
    if opts["fam"] is not None:
        fam = opts["fam"]
    body = block + tlvs
    length = len(body) if opts["len"] is None else opts["len"]
    return SIG + struct.pack("!BBH", ver_cmd, fam, length) + body


# The options for a well-formed header, for callers that import v2().
NO_OPTIONS = {"tlv": [], "len": None, "ver_cmd": None, "fam": None}


def main():
    args = sys.argv[1:]
    opts = dict(NO_OPTIONS, tlv=[])
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if not args:
            usage()
        val = args.pop(0)
        if opt == "--tlv":
            t, _, text = val.partition("=")
            opts["tlv"].append((int(t, 0), text.encode()))
        elif opt == "--len":
            opts["len"] = int(val, 0)
        elif opt == "--ver-cmd":
            opts["ver_cmd"] = int(val, 0)
        elif opt == "--fam":
            opts["fam"] = int(val, 0)
        else:
            usage()
    if not args or args[0] not in ("v1", "v2"):
        usage()
    out = v1(args[1:]) if args[0] == "v1" else v2(args[1:], opts)
    sys.stdout.buffer.write(out)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
