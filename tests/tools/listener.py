# SPDX-License-Identifier: MIT
"""The listening half of the test servers (fake-server.py, strip-proxy.py):
a free 127.0.0.1 port whose number is written to a file, and a bounded
life, so that a test can never hang on a server."""

import os
import socket
import threading
import time


def serve_until(port_file, life, serve):
    """Listen on a free 127.0.0.1 port, write its number to port_file
    (whole, then renamed into place, so a reader never sees half of it),
    and run serve(sock, number) in a thread of its own for each connection
    (numbered from 1) until life seconds have passed; then end the process
    at once: daemon threads die with it, so nothing outlives the deadline."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    deadline = time.monotonic() + life
    number = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        listener.settimeout(left)
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            break
        sock.setblocking(True)
        number += 1
        threading.Thread(target=serve, args=(sock, number),
                         daemon=True).start()
    os._exit(0)
