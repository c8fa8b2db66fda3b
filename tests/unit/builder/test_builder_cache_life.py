"""builder/cache.py: an entry lives while an image built through it does, as dockerd's classic cache
(its intermediate images) goes with the images they led to (moby's TestBuildUncleanTarFilenames run twice)."""

from __future__ import annotations

from pathlib import Path

from dockyard.builder.cache import BuildCache


def _cache(tmp_path: Path) -> BuildCache:
    cache = BuildCache(tmp_path / "cache.db")
    for key, root in (("base", "r-base"), ("a", "r-a"), ("b", "r-b"), ("failed", "r-failed")):
        cache.put(key, f"sha256:{key}", [], 0, root)
    cache.built(["base", "a", "a"], "img-A")
    cache.built(["base", "b"], "img-B")
    return cache


def test_entries_go_with_the_last_image_they_built(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    assert cache.images_deleted(["img-A"]) == ["r-a"]
    assert cache.get("a") is None and cache.get("base") is not None, "base still built img-B"
    assert cache.images_deleted(["img-B"]) == ["r-b", "r-base"]
    assert cache.get("base") is None and cache.get("b") is None
    assert cache.get("failed") is not None, "a step no finished build used stays until builder prune"
    assert cache.images_deleted(["img-A", "never-built"]) == []


def test_several_images_at_once_and_prune_forgets_the_links(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    assert cache.images_deleted(["img-A", "img-B"]) == ["r-a", "r-b", "r-base"]
    cache = _cache(tmp_path)
    cache.prune()
    cache.put("a", "sha256:a", [], 0, "r-a2")
    assert cache.images_deleted(["img-A"]) == [], "prune dropped the entries and their images"
    assert cache.get("a") is not None
