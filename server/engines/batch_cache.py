"""Rows joining and leaving a running batch's KV cache, which transformers' `generate` never does.

Every row is left-padded to the batch's common length; padding is masked out of attention, so a row's
outputs do not depend on the rows it shares the batch with. Joining works on plain `DynamicLayer`s
(dense attention); for other cache layouts (sliding windows, state-space layers) the engine lets a batch
drain before starting the next one.
"""

from __future__ import annotations

from typing import Any


def can_merge(cache: Any) -> bool:
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in cache.layers)


def _left_pad(tensor: Any, length: int) -> Any:
    import torch

    missing = length - tensor.shape[-2]
    if missing == 0:
        return tensor
    shape = (*tensor.shape[:-2], missing, tensor.shape[-1])
    return torch.cat([tensor.new_zeros(shape), tensor], dim=-2)


def merge(cache: Any, mask: Any, joining: Any, joining_mask: Any) -> Any:
    """Append `joining`'s rows to `cache` in place (left-padding the shorter side); returns the merged mask."""
    import torch

    length = max(mask.shape[1], joining_mask.shape[1])
    for layer, new in zip(cache.layers, joining.layers, strict=True):
        layer.keys = torch.cat([_left_pad(layer.keys, length), _left_pad(new.keys, length)], dim=0)
        layer.values = torch.cat([_left_pad(layer.values, length), _left_pad(new.values, length)], dim=0)
    pad = torch.nn.functional.pad
    return torch.cat([pad(mask, (length - mask.shape[1], 0)), pad(joining_mask, (length - joining_mask.shape[1], 0))])


def keep_rows(cache: Any, mask: Any, rows: list[int]) -> Any:
    """Drop every row not in `rows`, then the leading columns that are padding in all remaining rows."""
    import torch

    index = torch.tensor(rows, device=mask.device)
    mask = mask.index_select(0, index)
    leading = int((mask.cumsum(dim=1) == 0).all(dim=0).sum())
    for layer in cache.layers:
        layer.keys = layer.keys.index_select(0, index)[..., leading:, :]
        layer.values = layer.values.index_select(0, index)[..., leading:, :]
    return mask[:, leading:]
