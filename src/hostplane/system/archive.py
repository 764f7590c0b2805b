"""Domain export archives on disk: a tar.gz of a website's files and Maildirs, streamed, never whole in memory.

A worker thread writes the archive with `tarfile` (stream mode "w|", through gzip) into a bounded queue of
chunks; the async side hands the chunks to the response as the client reads them. The queue bound (QUEUE_CHUNKS x
CHUNK_BYTES) is all the memory an export holds, whatever its size. If the client goes away, the consumer stops and
the worker notices at its next write and ends.

Symlinks are never followed: one that stays inside the exported folder is stored as a link, one that points
outside it is left out (and listed in the manifest), files are opened with O_NOFOLLOW, and special files
(sockets, fifos, devices) are skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import io
import json
import logging
import os
import queue
import stat
import tarfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("hostplane.system.archive")

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 16
"""At most QUEUE_CHUNKS chunks of about CHUNK_BYTES wait for the client: the memory bound of one export."""
COMPRESS_LEVEL = 6
"""gzip's default trade-off (tarfile's own stream mode always uses 9, several times slower on real data)."""
STALL_SECONDS = 600.0
"""A worker whose chunks nobody took for this long gives up (a consumer dropped without closing the stream)."""
_DONE = object()


class ExportCancelled(Exception):
    """The consumer went away: the worker stops writing."""


@dataclass(frozen=True)
class ExportPlan:
    """What one export holds, read from the database before streaming starts."""

    name: str
    website: Path | None
    maildirs: list[tuple[str, Path]]
    """(local part, Maildir folder) per mailbox."""
    manifest: dict[str, Any]


class _QueueWriter(io.RawIOBase):
    """The file object tarfile writes to: each write becomes a chunk in the bounded queue (blocking when full)."""

    def __init__(self, chunks: queue.Queue[object], cancelled: threading.Event) -> None:
        self.chunks = chunks
        self.cancelled = cancelled
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += bytes(data)
        while len(self.buffer) >= CHUNK_BYTES:
            self._put(bytes(self.buffer[:CHUNK_BYTES]))
            del self.buffer[:CHUNK_BYTES]
        return len(data)

    def flush_all(self) -> None:
        if self.buffer:
            self._put(bytes(self.buffer))
            self.buffer.clear()

    def _put(self, chunk: object) -> None:
        waited = 0.0
        while True:
            if self.cancelled.is_set() or waited > STALL_SECONDS:  # gone, or never closed and nobody reads
                raise ExportCancelled
            try:
                self.chunks.put(chunk, timeout=0.2)
                return
            except queue.Full:
                waited += 0.2


@dataclass
class ExportStream:
    """A running (or not yet started) export: read `chunks()` once."""

    filename: str
    plan: ExportPlan
    queue_chunks: int = QUEUE_CHUNKS
    max_queued: int = field(default=0, init=False)
    """The most chunks that ever waited at once (for tests of the memory bound)."""

    async def chunks(self) -> AsyncIterator[bytes]:
        chunks: queue.Queue[object] = queue.Queue(maxsize=self.queue_chunks)
        cancelled = threading.Event()
        worker = threading.Thread(
            target=_write_archive, args=(self.plan, chunks, cancelled), name="hostplane-export", daemon=True
        )
        worker.start()
        try:
            while True:
                self.max_queued = max(self.max_queued, chunks.qsize())
                item = await asyncio.to_thread(chunks.get)
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                yield item
        finally:
            cancelled.set()
            while worker.is_alive():  # unblock a worker waiting on a full queue
                with _suppress_empty():
                    chunks.get_nowait()
                await asyncio.to_thread(worker.join, 0.05)


class _suppress_empty:  # noqa: N801 (a tiny context manager)
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, traceback: object) -> bool:
        return kind is queue.Empty


# --- the worker thread ----------------------------------------------------------------------------------------


def _write_archive(plan: ExportPlan, chunks: queue.Queue[object], cancelled: threading.Event) -> None:
    writer = _QueueWriter(chunks, cancelled)
    try:
        skipped: list[str] = []
        members = list(_members(plan, skipped))  # names only (cheap): the manifest lists what was left out
        manifest = dict(plan.manifest, skipped_links=skipped)
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=writer, compresslevel=COMPRESS_LEVEL) as compressed,
            tarfile.open(fileobj=compressed, mode="w|", bufsize=CHUNK_BYTES, format=tarfile.PAX_FORMAT) as archive,
        ):
            data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
            info = tarfile.TarInfo(f"{plan.name}/manifest.json")
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
            archive.addfile(info, io.BytesIO(data))
            for source, arcname, real_root in members:
                _add(archive, source, arcname, real_root)
        writer.flush_all()
        writer._put(_DONE)
    except ExportCancelled:
        return
    except BaseException as exc:  # handed to the consumer, which raises it
        log.error("export of %s failed: %s", plan.name, exc)
        with _suppress_full():
            chunks.put(exc, timeout=1)


class _suppress_full:  # noqa: N801
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, traceback: object) -> bool:
        return kind is queue.Full


def _members(plan: ExportPlan, skipped: list[str]) -> Iterator[tuple[Path, str, str]]:
    if plan.website is not None:
        yield from _walk(plan.website, f"{plan.name}/website", skipped)
    for local_part, maildir in plan.maildirs:
        yield from _walk(maildir, f"{plan.name}/mail/{local_part}/Maildir", skipped)


def _walk(root: Path, prefix: str, skipped: list[str]) -> Iterator[tuple[Path, str, str]]:
    """(path, name in the archive, the folder's real path) of a folder's entries, top down, never following a
    symlink. A symlink whose target lies outside `root` is left out (and named in `skipped`)."""
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):  # the folder itself replaced by a link or a file: export nothing from it
        skipped.append(prefix)
        return
    real_root = os.path.realpath(root)
    yield root, prefix, real_root
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        relative = os.path.relpath(folder, root)
        base = prefix if relative == "." else f"{prefix}/{relative}"
        for entry in sorted(dirs) + sorted(files):
            path = Path(folder) / entry
            if path.is_symlink():
                target = os.path.realpath(path)
                if target != real_root and not target.startswith(real_root + os.sep):
                    skipped.append(f"{base}/{entry}")
                    continue
            yield path, f"{base}/{entry}", real_root


def _add(archive: tarfile.TarFile, source: Path, arcname: str, real_root: str) -> None:
    try:
        info = os.lstat(source)
    except FileNotFoundError:
        return  # removed while exporting
    member = tarfile.TarInfo(arcname)
    member.mtime = int(info.st_mtime)
    member.mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISDIR(info.st_mode):
        member.type = tarfile.DIRTYPE
        archive.addfile(member)
    elif stat.S_ISLNK(info.st_mode):
        member.type = tarfile.SYMTYPE
        member.linkname = os.readlink(source)
        archive.addfile(member)
    elif stat.S_ISREG(info.st_mode):
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # replaced by a symlink (or removed) since the walk: leave it out
            return
        with os.fdopen(fd, "rb") as handle:
            opened = os.fstat(handle.fileno())
            if not stat.S_ISREG(opened.st_mode) or not _inside(handle.fileno(), real_root):
                return
            member.size = opened.st_size
            archive.addfile(member, _Exactly(handle, opened.st_size))
    # sockets, fifos and devices are not website or mail content: left out


def _inside(fd: int, real_root: str) -> bool:
    """The file actually opened lies below the exported folder: a folder on the way swapped for a symlink after
    the walk (O_NOFOLLOW only guards the last component) cannot pull in a file from elsewhere."""
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return opened.startswith(real_root + os.sep)


class _Exactly(io.RawIOBase):
    """Reads exactly `size` bytes from a file that may shrink or grow while exported (zeros if it shrank), so the
    archive stays well formed."""

    def __init__(self, handle: io.BufferedReader, size: int) -> None:
        self.handle = handle
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(want) or b""
        if len(data) < want:
            data += b"\0" * (want - len(data))
        self.left -= len(data)
        return data
