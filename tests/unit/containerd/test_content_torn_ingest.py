"""kill -9 while an ingest was being removed: the next open of that ref starts afresh instead of
failing on a directory without its ``ref`` file (CI saw it in test_images_kill9_during_pull)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dockyard.containerd.content import LocalContentStore


def test_a_torn_ingest_is_replaced_and_stale_temporaries_are_swept(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    ref = "pull-sha256:abc"
    torn = tmp_path / "ingest" / hashlib.sha256(ref.encode()).hexdigest()
    torn.mkdir()
    (torn / "data").write_bytes(b"half")  # what an rmtree cut short leaves: no ref, no startedat
    stale = tmp_path / "ingest" / f"{torn.name}.tmp-drop-1-0"
    stale.mkdir()
    store.close()

    store = LocalContentStore(tmp_path)
    assert not stale.exists()
    data = b"payload"
    with store.writer(ref) as w:
        w.write(data)
        digest = w.commit(len(data), "sha256:" + hashlib.sha256(data).hexdigest())
    with store.open(digest) as f:
        assert f.read() == data
    assert list((tmp_path / "ingest").iterdir()) == []
    store.close()
