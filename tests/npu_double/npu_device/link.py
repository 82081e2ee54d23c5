"""The double's HCCL: the ranks of one job on this host exchange every collective through rank 0,
so an all_reduce really combines all ranks' values and a collective that differs between the ranks
(another kind, dtype or shape, which is what issuing them in another order gives) fails on every
rank, as a real job would fail or hang.

Models HCCL as the adapter uses it: the ranks meet when the device opens (tf_adapter_2.x's open()
initialises HCCL with the rank table or the CM_* variables), within HCCL_CONNECT_TIMEOUT seconds
(HCCL's default 120); a rank waits at most HCCL_EXEC_TIMEOUT seconds (default 1836) in a
collective. Where the ranks meet: with CM_* variables, the chief's CM_CHIEF_IP:CM_CHIEF_PORT (TCP);
with a rank table, a Unix socket named after the rank table's path (test rank tables list no
addresses). Frames are a length-prefixed JSON header and raw array bytes; nothing is unpickled.
"""
import functools
import hashlib
import json
import os
import socket
import struct
import tempfile
import threading
import time

import numpy as np

_LENGTH = struct.Struct("!Q")
_MAX_HEADER = 1 << 16
_MAX_PAYLOAD = 1 << 32
_REDUCE = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


class HcclError(RuntimeError):
    """A collective that cannot complete: a rank left, timed out, or issued another collective."""


def _seconds(name, default):
    return float(os.getenv(name, default))


def _recv_exactly(sock, count):
    chunks, left = [], count
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send(sock, header, payload=b""):
    encoded = json.dumps(header).encode()
    sock.sendall(_LENGTH.pack(len(encoded)) + encoded + _LENGTH.pack(len(payload)) + payload)


def _recv(sock, rank):
    """One frame from `rank`: (header dict, payload bytes); HcclError if the rank is gone or silent."""
    try:
        header_length, = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
        if header_length > _MAX_HEADER:
            raise HcclError("HCCL double: rank %d sent a %d-byte header" % (rank, header_length))
        header = json.loads(_recv_exactly(sock, header_length))
        payload_length, = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
        if payload_length > _MAX_PAYLOAD:
            raise HcclError("HCCL double: rank %d sent a %d-byte payload" % (rank, payload_length))
        return header, _recv_exactly(sock, payload_length)
    except socket.timeout:
        raise HcclError("HCCL double: rank %d issued no collective within HCCL_EXEC_TIMEOUT (%g s)"
                        % (rank, sock.gettimeout())) from None
    except (EOFError, ConnectionError):
        raise HcclError("HCCL double: rank %d left the job" % rank) from None


def _address(rank_size):
    """(socket family, address) where the ranks meet."""
    if os.getenv("CM_CHIEF_IP") is not None:
        return socket.AF_INET, (os.environ["CM_CHIEF_IP"], int(os.environ["CM_CHIEF_PORT"]))
    key = "%s|%d" % (os.path.realpath(os.environ["RANK_TABLE_FILE"]), rank_size)
    name = "npu_double_%s.sock" % hashlib.sha256(key.encode()).hexdigest()[:16]
    return socket.AF_UNIX, os.path.join(tempfile.gettempdir(), name)


def _describe(header):
    return "%s %s %s%s" % (header["op"], header.get("reduction", "root %s" % header.get("root_rank")),
                           header["dtype"], header["shape"])


class Link:
    """This rank's connections: rank 0 holds one to every other rank, the others one to rank 0."""

    def __init__(self, rank, rank_size, peers):
        self.rank, self.rank_size = rank, rank_size
        self._peers = peers  # rank -> socket
        self._issued = 0  # collectives this rank has issued
        self._lock = threading.Lock()  # one collective at a time, numbered in the order issued

    @classmethod
    def meet(cls, rank, rank_size):
        """Blocks until all rank_size ranks have met (HCCL_CONNECT_TIMEOUT)."""
        family, address = _address(rank_size)
        deadline = time.monotonic() + _seconds("HCCL_CONNECT_TIMEOUT", 120)
        return (cls._accept if rank == 0 else cls._connect)(rank, rank_size, family, address, deadline)

    @classmethod
    def _accept(cls, rank, rank_size, family, address, deadline):
        if family == socket.AF_UNIX and os.path.exists(address):
            os.unlink(address)  # left by an earlier job that was killed
        server = socket.socket(family, socket.SOCK_STREAM)
        peers = {}
        try:
            if family == socket.AF_INET:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(address)
            server.listen(rank_size)
            while len(peers) < rank_size - 1:
                server.settimeout(max(deadline - time.monotonic(), 0.001))
                try:
                    sock, _ = server.accept()
                except socket.timeout:
                    raise HcclError("HCCL double: ranks %s did not connect within HCCL_CONNECT_TIMEOUT" % sorted(
                        set(range(1, rank_size)) - set(peers))) from None
                sock.settimeout(_seconds("HCCL_CONNECT_TIMEOUT", 120))
                hello, _ = _recv(sock, -1)
                if hello.get("rank_size") != rank_size or not 0 < hello.get("rank", 0) < rank_size \
                        or hello["rank"] in peers:
                    raise HcclError("HCCL double: a rank joined as %s, expected one of ranks 1..%d of %d"
                                    % (hello, rank_size - 1, rank_size))
                peers[hello["rank"]] = sock
        finally:
            server.close()
            if family == socket.AF_UNIX and os.path.exists(address):
                os.unlink(address)
        return cls._ready(rank, rank_size, peers)

    @classmethod
    def _connect(cls, rank, rank_size, family, address, deadline):
        while True:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.connect(address)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise HcclError("HCCL double: rank 0 did not listen within HCCL_CONNECT_TIMEOUT") from None
                time.sleep(0.05)  # rank 0 has not opened yet: try again, as HCCL does until its timeout
        _send(sock, {"rank": rank, "rank_size": rank_size})
        return cls._ready(rank, rank_size, {0: sock})

    @classmethod
    def _ready(cls, rank, rank_size, peers):
        for sock in peers.values():
            sock.settimeout(_seconds("HCCL_EXEC_TIMEOUT", 1836))
        return cls(rank, rank_size, peers)

    def collective(self, header, array):
        """Runs one collective: header {"op": "all_reduce", "reduction": "sum"|"prod"|"max"|"min"}
        or {"op": "broadcast", "root_rank": r}; array, this rank's value. Returns the result (same
        dtype and shape) on every rank."""
        array = np.asarray(array)  # (tobytes() writes C order; ascontiguousarray would make a scalar 1-d)
        with self._lock:
            header = dict(header, dtype=array.dtype.name, shape=list(array.shape), number=self._issued)
            self._issued += 1
            if self.rank != 0:
                _send(self._peers[0], header, array.tobytes())
                reply, payload = _recv(self._peers[0], 0)
                if "error" in reply:
                    raise HcclError(reply["error"])
                return np.frombuffer(payload, array.dtype).reshape(array.shape).copy()
            values = {0: array}
            for rank, sock in sorted(self._peers.items()):
                theirs, payload = _recv(sock, rank)
                if theirs != dict(header):
                    error = ("HCCL double: collective #%d differs between the ranks: rank 0 issued %s, rank %d %s"
                             % (header["number"], _describe(header), rank, _describe(theirs)))
                    for sock in self._peers.values():
                        _send(sock, {"error": error})
                    raise HcclError(error)
                values[rank] = np.frombuffer(payload, array.dtype).reshape(array.shape)
            if header["op"] == "broadcast":
                result = values[header["root_rank"]]
            else:
                result = functools.reduce(_REDUCE[header["reduction"]], [values[r] for r in sorted(values)])
            result = np.asarray(result, array.dtype)
            for sock in self._peers.values():
                _send(sock, {"op": header["op"]}, result.tobytes())
            return result.copy()
