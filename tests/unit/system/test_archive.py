"""The export stream keeps memory flat whatever the size of what it exports, holds back when the client reads
slowly, and stops its worker when the client goes away."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import tarfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostplane.system import archive
from hostplane.system.archive import CHUNK_BYTES, QUEUE_CHUNKS, ExportPlan, ExportStream

MB = 1024 * 1024


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def plan_for(docroot: Path) -> ExportPlan:
    return ExportPlan(name="big.test", website=docroot, maildirs=[], manifest={"domain": "big.test"})


def export_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "hostplane-export"]


@pytest.mark.integration  # the real archive driver at scale: 200 MB through the real compressor
async def test_a_200_mb_file_is_exported_with_flat_memory(tmp_path: Path) -> None:
    docroot = tmp_path / "public"
    docroot.mkdir()
    with (docroot / "big.bin").open("wb") as handle:  # sparse: 200 MB on the wire, nothing on disk
        handle.truncate(200 * MB)
        handle.seek(100 * MB)
        handle.write(b"middle marker")
    stream = ExportStream(filename="big.test.tar.gz", plan=plan_for(docroot))
    start = rss()
    peak = start
    inflate = zlib.decompressobj(wbits=31)
    archive_bytes = 0
    async for chunk in stream.chunks():
        archive_bytes += len(inflate.decompress(chunk, 0))
        peak = max(peak, rss())
    assert archive_bytes > 200 * MB
    assert peak - start < 40 * MB, f"RSS grew by {(peak - start) // MB} MB"


async def test_the_archive_is_a_valid_tar_gz_of_the_files(tmp_path: Path) -> None:
    docroot = tmp_path / "public"
    (docroot / "a" / "b").mkdir(parents=True)
    (docroot / "a" / "b" / "c.txt").write_bytes(b"deep")
    stream = ExportStream(filename="x.tar.gz", plan=plan_for(docroot))
    data = b"".join([chunk async for chunk in stream.chunks()])
    target = tmp_path / "out.tar.gz"
    target.write_bytes(data)
    with tarfile.open(target, "r:gz") as archive:
        assert archive.getnames() == [
            "big.test/manifest.json",
            "big.test/website",
            "big.test/website/a",
            "big.test/website/a/b",
            "big.test/website/a/b/c.txt",
        ]
        handle = archive.extractfile("big.test/website/a/b/c.txt")
        assert handle is not None and handle.read() == b"deep"


@pytest.mark.integration  # the real archive driver at scale: 48 MB and 1.5 s on the clock
async def test_a_slow_reader_holds_the_writer_back(tmp_path: Path) -> None:
    docroot = tmp_path / "public"
    docroot.mkdir()
    with (docroot / "random.bin").open("wb") as handle:  # incompressible: the archive is as big as the file
        for _ in range(48):
            handle.write(os.urandom(MB))
    stream = ExportStream(filename="x.tar.gz", plan=plan_for(docroot))
    chunks = stream.chunks()
    start = rss()
    await chunks.__anext__()
    await asyncio.sleep(1.5)  # the worker could compress all 48 MB in this time if nothing held it back
    held = rss() - start
    total = CHUNK_BYTES
    async for chunk in chunks:
        total += len(chunk)
    assert total > 48 * MB
    assert held < (QUEUE_CHUNKS * CHUNK_BYTES) + 16 * MB, f"{held // MB} MB buffered for a reader that waits"


async def test_the_worker_stops_when_the_client_goes_away(tmp_path: Path) -> None:
    docroot = tmp_path / "public"
    docroot.mkdir()
    with (docroot / "random.bin").open("wb") as handle:
        for _ in range(16):
            handle.write(os.urandom(MB))
    stream = ExportStream(filename="x.tar.gz", plan=plan_for(docroot))
    chunks = stream.chunks()
    await chunks.__anext__()
    assert export_threads()
    await chunks.aclose()
    for thread in export_threads():
        await asyncio.to_thread(thread.join, 5)
    assert export_threads() == []


async def test_a_folder_swapped_for_a_symlink_after_the_walk_does_not_pull_in_outside_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docroot = tmp_path / "public"
    (docroot / "sub").mkdir(parents=True)
    (docroot / "sub" / "page.html").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "page.html").write_text("OUTSIDE SECRET")
    real_walk = archive._walk

    def walk_then_swap(root: Path, prefix: str, skipped: list[str]) -> Iterator[tuple[Path, str, str]]:
        entries = list(real_walk(root, prefix, skipped))
        if root == docroot:  # the race: after the walk saw a folder, it becomes a link to elsewhere
            shutil.rmtree(docroot / "sub")
            os.symlink(outside, docroot / "sub")
        yield from entries

    monkeypatch.setattr(archive, "_walk", walk_then_swap)
    stream = ExportStream(filename="x.tar.gz", plan=plan_for(docroot))
    data = b"".join([chunk async for chunk in stream.chunks()])
    assert b"OUTSIDE SECRET" not in gzip.decompress(data)
