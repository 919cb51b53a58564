"""The IA memory pool: update, fetch a window, eviction, state round trip, save/load, 2-process gloo sync."""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp

from alphaction.modeling.ia import ClipMemory
from alphaction.modeling.ia.memory_pool import MemoryPool, loss_penalty

D = 4


def _feats(value: float, n: int = 2) -> torch.Tensor:
    """``n`` rows: row ``i`` is ``value + i / 10`` everywhere, so contents are easy to recognise."""
    return torch.stack([torch.full((D,), value + i / 10) for i in range(n)])


def _pool(**kwargs) -> MemoryPool:
    pool = MemoryPool(**kwargs)
    seconds = [900, 901, 902, 903, 904, 905, 906]
    pool.update(["vidA"] * len(seconds), seconds, [_feats(float(t - 900)) for t in seconds])
    pool.update(["vidB"], [903], [_feats(50.0)])
    return pool


def test_window_slots_and_contents():
    pool = _pool()
    mem = pool.window("vidA", 903, length=(2, 1), rate=1, max_per_sec=5)
    assert isinstance(mem, ClipMemory)
    # seconds 901, 902, (903 excluded), 904 -> slots 0, 1, 3; two rows each
    assert mem.slots.tolist() == [0, 0, 1, 1, 3, 3]
    assert mem.features.dtype == torch.float32 and mem.features.shape == (6, D)
    assert torch.equal(mem.features, torch.cat([_feats(1.0), _feats(2.0), _feats(4.0)]))
    # the other video is not mixed in, missing seconds are skipped
    assert pool.window("vidB", 903, length=(2, 2)).slots.numel() == 0
    edge = pool.window("vidA", 906, length=(1, 3))
    assert edge.slots.tolist() == [0, 0] and torch.equal(edge.features, _feats(5.0))


def test_window_rate_current_online():
    pool = _pool()
    mem = pool.window("vidA", 903, length=(1, 1), rate=2)  # 901 -> slot 0, 905 -> slot 2
    assert mem.slots.tolist() == [0, 0, 2, 2]
    assert torch.equal(mem.features, torch.cat([_feats(1.0), _feats(5.0)]))
    with_current = pool.window("vidA", 903, length=(1, 1), exclude_current=False)
    assert with_current.slots.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(with_current.features[2:4], _feats(3.0))
    online = pool.window("vidA", 903, length=(2, 2), online=True)
    assert online.slots.tolist() == [0, 0, 1, 1]  # only 901, 902
    online_cur = pool.window("vidA", 903, length=(2, 2), online=True, exclude_current=False)
    assert online_cur.slots.tolist() == [0, 0, 1, 1, 2, 2]


def test_window_max_per_sec():
    pool = MemoryPool()
    pool.update(["v", "v"], [10, 11], [_feats(0.0, n=6), _feats(1.0, n=1)])
    first = pool.window("v", 12, length=(2, 0), max_per_sec=3)
    assert first.slots.tolist() == [0, 0, 0, 1]
    assert torch.equal(first.features[:3], _feats(0.0, n=6)[:3])  # the first ones, deterministically
    assert torch.equal(first.features, pool.window("v", 12, length=(2, 0), max_per_sec=3).features)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    r1 = pool.window("v", 12, length=(2, 0), max_per_sec=3, generator=g1)
    r2 = pool.window("v", 12, length=(2, 0), max_per_sec=3, generator=g2)
    assert r1.slots.tolist() == [0, 0, 0, 1] and torch.equal(r1.features, r2.features)
    rows = {tuple(r.tolist()) for r in _feats(0.0, n=6)}
    assert all(tuple(r.tolist()) in rows for r in r1.features[:3])
    assert len({tuple(r.tolist()) for r in r1.features[:3]}) == 3
    # over several draws the random subset is not always the first rows
    g = torch.Generator().manual_seed(1)
    draws = [pool.window("v", 12, length=(2, 0), max_per_sec=3, generator=g).features[:3] for _ in range(20)]
    assert any(not torch.equal(d, first.features[:3]) for d in draws)


def test_empty_window_and_device():
    pool = MemoryPool(dim=D)
    mem = pool.window("nothing", 5, length=(3, 3), device="cpu")
    assert mem.features.shape == (0, D) and mem.slots.dtype == torch.long
    mems = _pool().windows(["vidA", "vidB"], torch.tensor([903, 903]), length=(1, 1), device=torch.device("cpu"))
    assert [m.slots.tolist() for m in mems] == [[0, 0, 2, 2], []]


def test_update_replaces_detaches_and_checks():
    pool = MemoryPool()
    x = torch.ones(3, D, requires_grad=True)
    pool.update(["v"], [1], [x * 2], tags=[0.5])
    feats, tag = pool.get("v", 1)
    assert not feats.requires_grad and tag == 0.5 and feats.shape == (3, D)
    pool.update(["v"], [1], [torch.zeros(1, D)])
    feats, tag = pool.get("v", 1)
    assert feats.shape == (1, D) and tag is None and len(pool) == 1
    with pytest.raises(ValueError):
        pool.update(["v"], [2], [torch.zeros(1, D + 1)])
    with pytest.raises(ValueError):
        pool.update(["v", "w"], [2], [torch.zeros(1, D)])


def test_half_storage_returns_float32():
    pool = MemoryPool(half=True)
    x = torch.randn(3, D, generator=torch.Generator().manual_seed(0))
    pool.update(["v"], [1], [x])
    assert pool._entries[("v", 1)][0].dtype == torch.float16
    mem = pool.window("v", 2, length=(1, 0))
    assert mem.features.dtype == torch.float32
    assert torch.allclose(mem.features, x, atol=1e-2, rtol=1e-3)


def test_penalty():
    assert loss_penalty(2.0, 2.0) == 1.0 and loss_penalty(1.0, 2.0) == 0.5 and loss_penalty(4.0, 2.0) == 0.5
    assert loss_penalty(0.0, 1.0) == 0.0
    pool = MemoryPool()
    pool.update(["v", "v"], [1, 2], [torch.ones(1, D), torch.ones(1, D)], tags=[1.0, 4.0])
    mem = pool.window("v", 3, length=(2, 0), current_loss=2.0)
    assert torch.allclose(mem.features[:, 0], torch.tensor([0.5, 0.5]))
    assert torch.equal(pool.window("v", 3, length=(2, 0)).features, torch.ones(2, D))  # no penalty asked


def test_eviction_least_recently_updated():
    pool = MemoryPool(max_entries=3)
    pool.update(["v"] * 3, [1, 2, 3], [_feats(float(i)) for i in range(3)])
    pool.update(["v"], [1], [_feats(9.0)])  # refresh 1: now 2 is the oldest
    pool.update(["v"], [4], [_feats(4.0)])
    assert pool.keys() == [("v", 3), ("v", 1), ("v", 4)]
    pool.update(["w", "w"], [1, 2], [_feats(0.0), _feats(0.0)])
    assert pool.keys() == [("v", 4), ("w", 1), ("w", 2)]
    assert ("v", 3) not in pool and ("w", 2) in pool


def _assert_same(a: MemoryPool, b: MemoryPool) -> None:
    assert a.keys() == b.keys()
    for key in a.keys():
        fa, ta = a.get(*key)
        fb, tb = b.get(*key)
        assert torch.equal(fa, fb) and ta == tb


def test_state_dict_round_trip(tmp_path):
    pool = _pool(half=True, max_entries=100)
    pool.update(["vidC"], [7], [torch.zeros(0, D)], tags=[0.25])  # an empty second and a tag
    path = str(tmp_path / "state.pth")
    torch.save(pool.state_dict(), path)
    state = torch.load(path, weights_only=True)
    restored = MemoryPool(half=True, max_entries=100)
    restored.load_state_dict(state)
    _assert_same(pool, restored)
    assert restored.get("vidC", 7)[1] == 0.25 and restored.get("vidC", 7)[0].shape == (0, D)
    assert torch.equal(
        restored.window("vidA", 903, length=(2, 2)).features, pool.window("vidA", 903, length=(2, 2)).features
    )
    # an empty pool round-trips too
    empty = MemoryPool()
    torch.save(empty.state_dict(), path)
    again = MemoryPool()
    again.load_state_dict(torch.load(path, weights_only=True))
    assert len(again) == 0


def test_save_load_files(tmp_path):
    pool = _pool()
    path = str(tmp_path / "memory_pool.pth")
    assert pool.save(path) == path
    assert os.listdir(tmp_path) == ["memory_pool.pth"]  # no .tmp left behind
    pool.update(["vidA"], [900], [_feats(77.0)])
    pool.save(path)  # overwrites atomically
    restored = MemoryPool()
    assert restored.load(path) == {}
    _assert_same(pool, restored)
    small = MemoryPool(max_entries=2)
    small.load(path)  # the loading pool's bound applies: newest kept
    assert small.keys() == pool.keys()[-2:]
    pool.save(path, extra={"iteration": 12, "last_loss": 0.5})
    again = MemoryPool()
    assert again.load(path) == {"iteration": 12, "last_loss": 0.5}
    _assert_same(pool, again)


def _sync_worker(rank: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        pool = MemoryPool(half=True)
        pool.update(
            [f"rank{rank}"] * 2, [1, 2], [_feats(float(rank)), _feats(float(rank) + 5, n=3)], tags=[float(rank), None]
        )
        pool.update(["shared"], [0], [_feats(10.0 + rank)])  # updated on both ranks: the highest rank wins
        pool.sync()
        pool.sync()  # nothing new: a no-op that changes nothing
        torch.save(pool.state_dict(), os.path.join(out_dir, f"rank{rank}.pth"))
    finally:
        dist.destroy_process_group()


def test_sync_two_processes_gloo(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    mp.spawn(_sync_worker, args=(str(tmp_path / "init"), str(out_dir)), nprocs=2, join=True)
    pools = []
    for rank in range(2):
        pool = MemoryPool(half=True)
        pool.load_state_dict(torch.load(str(out_dir / f"rank{rank}.pth"), weights_only=True))
        pools.append(pool)
    expected = {("rank0", 1), ("rank0", 2), ("rank1", 1), ("rank1", 2), ("shared", 0)}
    assert set(pools[0].keys()) == expected
    _assert_same(pools[0], pools[1])
    assert torch.equal(pools[0].get("shared", 0)[0], _feats(11.0).half().float())
    assert torch.equal(pools[0].get("rank1", 2)[0], _feats(6.0, n=3).half().float())
    assert pools[1].get("rank0", 1)[1] == 0.0 and pools[0].get("rank1", 2)[1] is None


def test_sync_single_process_is_noop():
    pool = _pool()
    restored = MemoryPool()
    restored.load_state_dict(pool.state_dict())
    pool.sync()
    _assert_same(pool, restored)
