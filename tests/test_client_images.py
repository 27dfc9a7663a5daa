"""`spool.client.images` against the real server: the file cache (one download per file, shared
by concurrent asks, least recently used out, clear errors) and saving files into a folder."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from spool.client.images import FetchError, FileCache, safe_name, save_file
from spool.client.sizes import human_size

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def upload(aclient: Any, name: str, data: bytes) -> str:
    return (await aclient.files.create(file=(name, data), purpose="assistants")).id


async def test_one_download_per_file_shared_by_concurrent_asks(aclient: Any) -> None:
    file_id = await upload(aclient, "plot.png", b"\x89PNG fake bytes")
    cache = FileCache(aclient)
    first, second = await asyncio.gather(cache.get(file_id), cache.get(file_id))
    assert first == second and first.name == "plot.png" and first.data == b"\x89PNG fake bytes"
    assert (await cache.get(file_id)).size == 15
    assert cache.downloads == 1


async def test_least_recently_used_files_leave_the_cache(aclient: Any) -> None:
    ids = [await upload(aclient, f"f{i}.bin", bytes([i]) * 400) for i in range(3)]
    cache = FileCache(aclient, max_bytes=1000)
    for file_id in ids:
        await cache.get(file_id)
    assert cache.cached(ids[0]) is None  # 1200 bytes > 1000: the oldest went
    assert cache.cached(ids[1]) is not None and cache.cached(ids[2]) is not None
    await cache.get(ids[0])
    assert cache.downloads == 4


async def test_a_missing_file_is_a_clear_error(aclient: Any) -> None:
    cache = FileCache(aclient)
    with pytest.raises(FetchError) as info:
        await cache.get("file-doesnotexist")
    assert "file-doesnotexist" in str(info.value) or "not found" in str(info.value).lower()
    with pytest.raises(FetchError):  # not cached as a failure forever: asked again
        await cache.get("file-doesnotexist")


def test_save_never_overwrites_and_stays_in_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "folder"
    first = save_file(folder, "out.csv", b"a")
    second = save_file(folder, "out.csv", b"b")
    assert (first.name, second.name) == ("out.csv", "out (1).csv")
    assert first.read_bytes() == b"a" and second.read_bytes() == b"b"
    escaped = save_file(folder, "../../evil.txt", b"x")
    assert escaped.parent == folder and escaped.name == "evil.txt"
    assert save_file(folder, "..", b"y").name == "file"
    assert not [p for p in folder.iterdir() if p.name.startswith(".spool-")]  # no leftovers
    umask = os.umask(0)
    os.umask(umask)
    assert first.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not 0600


def test_names_and_sizes() -> None:
    assert safe_name("a/b\\c.png") == "c.png"
    assert [human_size(n) for n in (0, 999, 1000, 12_345, 4_000_000)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "12.3 kB",
        "4.0 MB",
    ]
