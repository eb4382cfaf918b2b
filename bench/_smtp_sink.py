"""A minimal, fast SMTP sink for benchmarks: accepts every message, keeps none, and writes one
line per message to a log file: "<unix time> <first recipient> <A|N>" (A: an announcement,
N: any other e-mail). Just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for
Django's SMTP backend, with PIPELINING (RFC 2920) offered as Mailpit and the big providers
offer it, on asyncio's Protocol (no per-line coroutine), so one process takes several thousand
messages per second and the workers, not the sink, set the pace.

    python -m bench._smtp_sink --port 2525 --log sink.log     # prints "ready" once listening
"""

import argparse
import asyncio
import contextlib
import sys
import time

ANNOUNCEMENT_HEADER = b"\r\nX-LMS-Announcement:"


class SinkProtocol(asyncio.Protocol):
    def __init__(self, log):
        self.log = log
        self.buffer = b""
        self.in_data = False
        self.data = []
        self.rcpt = b""

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, chunk: bytes) -> None:
        self.buffer += chunk
        replies = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    # keep the tail: the terminator may straddle two reads
                    if len(self.buffer) > 8:
                        self.data.append(self.buffer[:-8])
                        self.buffer = self.buffer[-8:]
                    break
                self.data.append(self.buffer[:end])
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                kind = "A" if any(ANNOUNCEMENT_HEADER in part for part in self.data) else "N"
                self.log.write(f"{time.time():.6f} {self.rcpt.decode(errors='replace')} {kind}\n")
                self.data = []
                replies.append(b"250 OK\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                break
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2 :]
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                replies.append(
                    b"250-bench-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                    if verb == b"EHLO"
                    else b"250 bench-sink\r\n"
                )
            elif verb == b"MAIL":
                self.rcpt = b""
                replies.append(b"250 OK\r\n")
            elif verb == b"RCPT":
                if not self.rcpt:
                    self.rcpt = line.split(b":", 1)[1].strip().strip(b"<>").split(b">")[0]
                replies.append(b"250 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.data = []
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 Bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:  # RSET, NOOP and anything else
                replies.append(b"250 OK\r\n")
        if replies:
            self.transport.write(b"".join(replies))


async def serve(port: int, log_path: str) -> None:
    with open(log_path, "a", buffering=1) as log:  # line-buffered: each message is visible at once
        server = await asyncio.get_running_loop().create_server(lambda: SinkProtocol(log), "127.0.0.1", port)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.log))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
