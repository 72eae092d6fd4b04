"""A TCP server on 127.0.0.1 that accepts connections and never answers: a hung service."""

import socket
import threading


class SilentServer:
    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = self.socket.getsockname()[1]
        self.accepted = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self):
        for connection in self.accepted:
            connection.close()
        self.socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() above, so the port really closes
        self.socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
