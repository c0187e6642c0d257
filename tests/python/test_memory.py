"""Peak memory stays flat as the corpus grows: pages are streamed, never all loaded.

Two runs in fresh processes over exports of about 4 MB and 16 MB; the larger may not cost more than
a small fraction of its extra size in peak RSS. (Memory, not time: this holds on a noisy machine.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import backfill

from conftest import make_export, write_config

CHILD = textwrap.dedent("""
    import resource, sys
    import backfill
    report = backfill.Pipeline.from_config(sys.argv[1], progress="none").run()
    assert report.ok
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, report.fetch.bytes_fetched)
""")


def peak_rss(config: Path) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(config)], capture_output=True, text=True, check=True)
    rss, size = out.stdout.split()
    return int(rss), int(size)


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_pages(tmp_path: Path) -> None:
    small = make_export(tmp_path / "small", channels=2, days=60, messages_per_day=100, seed=1)
    large = make_export(tmp_path / "large", channels=2, days=240, messages_per_day=100, seed=1)
    rss_small, bytes_small = peak_rss(write_config(tmp_path / "s.toml", small, workdir=tmp_path / "ws", dimension=32,
                                                   batch_records=256, target_tokens=256))
    rss_large, bytes_large = peak_rss(write_config(tmp_path / "l.toml", large, workdir=tmp_path / "wl", dimension=32,
                                                   batch_records=256, target_tokens=256))
    assert bytes_large > 3 * bytes_small
    growth = rss_large - rss_small
    extra = bytes_large - bytes_small
    # Loading the corpus would cost at least its size again (journal bodies, documents, chunks).
    assert growth < 0.25 * extra, (
        f"peak RSS grew by {growth / 1e6:.1f} MB for {extra / 1e6:.1f} MB more input "
        f"({rss_small / 1e6:.1f} -> {rss_large / 1e6:.1f} MB)"
    )


def test_the_memory_budget_bounds_the_bytes_the_stages_hold(tmp_path: Path) -> None:
    """`[run] memory_budget_mb` closes batches by bytes (not only by count) and holds fetched pages and
    batches in flight within it: at dimension 1536 a batch of 1000 records is ~6 MB of vectors alone,
    so a 1 MB budget only holds when batches are sized by bytes."""
    export = make_export(tmp_path / "export", channels=2, days=30, messages_per_day=40, seed=3)
    extra = "memory_budget_mb = 1\n"
    config = write_config(tmp_path / "b.toml", export, workdir=tmp_path / "w", dimension=1536, batch_records=1000)
    config.write_text(config.read_text().replace("[run]\n", "[run]\n" + extra, 1))
    report = backfill.Pipeline.from_config(config, progress="none").run()
    assert report.ok
    assert report.ingest.chunks_written > 1000
    assert 0 < report.ingest.memory_peak_bytes <= 1 << 20
    assert report.ingest.upsert_requests > report.ingest.chunks_written / 1000 + 1


@pytest.mark.parametrize("value", [-1, 1 << 21])
def test_a_memory_budget_out_of_range_names_the_setting(tmp_path: Path, value: int) -> None:
    with pytest.raises(backfill.errors.ConfigError, match="run.memory_budget_mb"):
        backfill.Pipeline(backfill.SlackExport(tmp_path), workdir=tmp_path / "w", memory_budget_mb=value,
                          progress="none")
