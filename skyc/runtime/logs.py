"""Follow a job's log from the head: one raw byte stream per connection, resumed by offset.

The agent's `tail --header` first prints the resolved start offset; the client counts what it
received, so after a dropped connection it asks for exactly the next byte: no line lost or repeated.
"""

from __future__ import annotations

import time
from typing import BinaryIO

from skyc.errors import NodeConnectionError
from skyc.runtime.connection import ConnectionDropped, Connector
from skyc.runtime.jobs import AGENT

HEADER = 20  # "%019d\n"
MAX_RETRIES_WITHOUT_PROGRESS = 5
NOT_FOUND = 102


class _OffsetWriter:
    """Strips the offset header, forwards the rest and counts it."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.header = b""
        self.start: int | None = None
        self.received = 0

    def write(self, data: bytes) -> None:
        if self.start is None:
            need = HEADER - len(self.header)
            self.header += data[:need]
            data = data[need:]
            if len(self.header) < HEADER:
                return
            self.start = int(self.header)
        if data:
            self.out.write(data)
            self.received += len(data)
            flush = getattr(self.out, "flush", None)
            if flush:
                flush()


def stream_log(head: Connector, job_id: int, out: BinaryIO, *, follow: bool, tail: int | None) -> bool:
    """Copy the job's log to `out`; returns False when the job does not exist."""
    offset: int | None = None
    failures = 0
    while True:
        args = [AGENT, "tail", "--header", "--job-id", str(job_id)]
        if offset is not None:
            args += ["--offset", str(offset)]
        elif tail is not None:
            args += ["--lines", str(tail)]
        if follow:
            args.append("--follow")
        writer = _OffsetWriter(out)
        try:
            code = head.stream(" ".join(args), writer)
        except ConnectionDropped:
            if writer.start is not None:
                offset = writer.start + writer.received
            failures = 0 if writer.received else failures + 1
            if failures > MAX_RETRIES_WITHOUT_PROGRESS:
                raise
            time.sleep(min(2.0, 0.1 * 2**failures))
            continue
        if code == NOT_FOUND:
            return False
        if code != 0:
            raise NodeConnectionError(f"log stream of job {job_id} on node {head.node.name} ended with exit {code}")
        return True
