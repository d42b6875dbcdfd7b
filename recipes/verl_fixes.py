"""Fixes for verl bugs that are not about CPU mode: they hit any accelerator, so they load with the plugin everywhere.

One so far. verl 0.9.1 keeps a VLM's 3-D (mRoPE) ``position_ids`` as a jagged nested tensor of per-sample
``(4, seq_len)`` slices, built with ``torch.nested.as_nested_tensor``. When every sequence of a batch has the same
length, torch takes the coordinate dimension as the ragged one (values ``(batch * 4, seq_len)``, ragged dim 1);
verl's ``maybe_fix_3d_position_ids`` then sets ``_ragged_idx = 2`` regardless, and the next ``unbind`` fails in
``train_mini_batch`` with ``split_with_sizes expects split_sizes to sum exactly to <seq_len> ... but got
split_sizes=[4, 4, ...]``. Equal lengths are common once a policy answers in a fixed format (upstream:
verl-project/verl#7899, #6851; PR #7901 replaces the relabel with a validating normalisation, as here).
"""

from __future__ import annotations

from types import ModuleType

import torch

PATCHED_FUNCTION = "maybe_fix_3d_position_ids"


def canonical_3d_position_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """The same per-sample ``(coords, seq_len)`` slices as a nested tensor ragged along ``seq_len`` (dim 2).

    Three layouts arrive: canonical (returned as is); coordinate-packed, from equal-length batches (values
    ``(batch * coords, seq_len)``, ragged dim 1); sequence-packed with ``_ragged_idx`` reset to 1, from a
    TensorDict pickling round trip (values ``(coords, total_len)``).
    """
    values, offsets = position_ids.values(), position_ids.offsets()
    batch, total = offsets.numel() - 1, int(offsets[-1])
    if values.dim() != 2:
        raise ValueError(f"3-D position_ids should have 2-D values (coords, tokens); got values {tuple(values.shape)}")
    ragged_idx = position_ids._ragged_idx
    if ragged_idx == 2 and values.shape[1] == total:
        return position_ids
    lengths = offsets.diff()
    # values (coords, tokens) with tokens == coords would also pass, but no batch has 3 or 4 tokens in all
    coordinate_packed = values.shape[0] == total and bool((lengths == lengths[0]).all())
    if ragged_idx == 1 and coordinate_packed:
        coords, seq_len = int(lengths[0]), values.shape[1]
        by_coordinate = values.reshape(batch, coords, seq_len).permute(1, 0, 2).reshape(coords, batch * seq_len)
        new_offsets = torch.arange(0, batch * seq_len + 1, seq_len, dtype=offsets.dtype, device=offsets.device)
        return torch.nested.nested_tensor_from_jagged(by_coordinate, new_offsets, jagged_dim=2)
    if values.shape[1] == total:
        return torch.nested.nested_tensor_from_jagged(values, offsets, jagged_dim=2)
    raise ValueError(
        f"3-D position_ids in no known layout: values {tuple(values.shape)}, offsets ending at {total}, "
        f"ragged dim {ragged_idx}; expected values (coords, {total}) or ({total}, seq_len)"
    )


def normalize_3d_position_ids(data) -> None:  # noqa: ANN001 (a TensorDict; verl's own function is untyped)
    """Drop-in for verl's ``maybe_fix_3d_position_ids``: make ``data["position_ids"]`` canonical, in place."""
    if "position_ids" not in data.keys():
        return
    position_ids = data["position_ids"]
    if position_ids.dim() == 3 and position_ids.is_nested:
        data["position_ids"] = canonical_3d_position_ids(position_ids)


def patch_tensordict_utils(module: ModuleType) -> None:
    """Replace the function in ``verl.utils.tensordict_utils`` before the workers import it by name."""
    setattr(module, PATCHED_FUNCTION, normalize_3d_position_ids)
