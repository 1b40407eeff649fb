"""A damaged item cache is set aside and rebuilt, never the cause of a lasting failure."""

from __future__ import annotations

import random

import numpy as np

from kura.store.cache import ItemCache


def filled_cache(path, n=2000):
    with ItemCache(path) as cache:
        for i in range(n):
            cache.put_text("summary", f"k{i}", f"value {i} " * 20)
        cache.put_vectors("vector", {f"v{i}": np.full(8, i, dtype=np.float32) for i in range(n)})
    return path


def scribble(path, pages, seed=0):
    rng = random.Random(seed)
    data = bytearray(path.read_bytes())
    for page in pages:
        start = page * 4096
        data[start : start + 4096] = bytes(rng.randrange(256) for _ in range(4096))
    path.write_bytes(bytes(data))


def test_random_bytes_over_a_few_pages_are_set_aside_and_the_cache_works(tmp_path):
    path = filled_cache(tmp_path / "cache.sqlite")
    scribble(path, pages=[3, 4, 5, 20])
    cache = ItemCache(path)
    assert [p.name.split("-")[0] for p in cache.set_aside] == ["cache.sqlite.damaged"]
    assert cache.set_aside[0].exists() and cache.count() == 0
    cache.put_text("summary", "k1", "again")
    assert cache.get_text("summary", "k1") == "again"
    cache.close()
    with ItemCache(path) as reopened:  # the rebuilt file is sound and kept
        assert reopened.set_aside == [] and reopened.get_text("summary", "k1") == "again"


def test_a_file_that_is_not_a_database_is_set_aside(tmp_path):
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not sqlite at all\n" * 400)
    with ItemCache(path) as cache:
        assert len(cache.set_aside) == 1 and cache.count() == 0


def test_a_sound_cache_is_kept(tmp_path):
    path = filled_cache(tmp_path / "cache.sqlite", n=50)
    with ItemCache(path) as cache:
        assert cache.set_aside == [] and cache.get_text("summary", "k7") == "value 7 " * 20
