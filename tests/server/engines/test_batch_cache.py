"""Rows joining and leaving a KV cache: left padding lines them up, and all-padding columns are trimmed."""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicCache

from wechat_twin.server.engines import batch_cache


def _cache(rows: int, length: int, fill: float) -> DynamicCache:
    cache = DynamicCache()
    for layer in range(2):
        keys = torch.full((rows, 1, length, 2), fill + layer)
        cache.update(keys, keys + 100, layer)
    return cache


def test_joining_rows_are_left_padded_to_the_longer_side():
    running, joining = _cache(1, 3, 1.0), _cache(2, 5, 7.0)
    mask = batch_cache.merge(running, torch.ones(1, 3, dtype=torch.long), joining, torch.ones(2, 5, dtype=torch.long))
    assert mask.tolist() == [[0, 0, 1, 1, 1], [1] * 5, [1] * 5]
    keys = running.layers[0].keys
    assert keys.shape == (3, 1, 5, 2)
    assert keys[0, 0, :2].abs().sum() == 0 and (keys[0, 0, 2:] == 1.0).all()
    assert (keys[1:] == 7.0).all()
    assert (running.layers[1].values[1:] == 108.0).all()
    assert batch_cache.can_merge(running)


def test_keeping_rows_drops_the_rest_and_trims_shared_padding():
    cache = _cache(3, 4, 1.0)
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1], [0, 1, 1, 1]])
    kept = batch_cache.keep_rows(cache, mask, [1, 2])
    assert kept.tolist() == [[0, 1, 1], [1, 1, 1]]
    assert cache.layers[0].keys.shape == (2, 1, 3, 2)
    assert cache.layers[1].values.shape == (2, 1, 3, 2)
