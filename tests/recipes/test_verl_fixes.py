"""verl's 3-D position ids survive equal-length batches: the function verl's workers call makes them canonical."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
import torch
from tensordict import TensorDict
from verl.utils import tensordict_utils
from verl.workers.utils.padding import left_right_2_no_padding

from recipes.verl_fixes import normalize_3d_position_ids

COORDS = 4  # verl's mRoPE layout: text position + (t, h, w)


def _padded_batch(lengths: list[int], width: int = 12) -> TensorDict:
    """A left/right-padded rollout batch as verl's trainer hands it to the actor, 3-D position ids included."""
    batch = len(lengths)
    attention_mask = torch.zeros(batch, width, dtype=torch.long)
    for row, length in enumerate(lengths):
        attention_mask[row, width - length :] = 1
    position_ids = torch.arange(batch * COORDS * width).reshape(batch, COORDS, width)
    return TensorDict(
        {
            "input_ids": torch.arange(batch * width).reshape(batch, width),
            "attention_mask": attention_mask,
            "response_mask": attention_mask[:, -4:],
            "position_ids": position_ids,
        },
        batch_size=[batch],
    )


def _slices(data: TensorDict) -> list[torch.Tensor]:
    return list(data["position_ids"].unbind())


def _expected_slices(data: TensorDict) -> list[torch.Tensor]:
    return [ids[:, mask.bool()] for ids, mask in zip(data["position_ids"], data["attention_mask"], strict=True)]


def test_equal_length_batches_crash_with_verls_relabel_alone() -> None:
    """The control: what verl 0.9.1's ``maybe_fix_3d_position_ids`` does (``_ragged_idx = 2``) breaks indexing."""
    data = left_right_2_no_padding(_padded_batch([7, 7, 7]))
    data["position_ids"]._ragged_idx = 2
    with pytest.raises(RuntimeError):
        tensordict_utils.index_select_tensor_dict(data, torch.tensor([0, 2]))


def test_equal_length_batches_index_after_the_fix() -> None:
    padded = _padded_batch([7, 7, 7])
    data = left_right_2_no_padding(padded.clone())
    normalize_3d_position_ids(data)
    selected = tensordict_utils.index_select_tensor_dict(data, torch.tensor([0, 2]))
    expected = _expected_slices(padded)
    assert [s.tolist() for s in _slices(selected)] == [expected[0].tolist(), expected[2].tolist()]


def test_variable_length_batches_pass_through_unchanged() -> None:
    data = left_right_2_no_padding(_padded_batch([5, 9, 7]))
    before = data["position_ids"]
    normalize_3d_position_ids(data)
    assert data["position_ids"] is before


def test_pickled_batches_get_their_ragged_dimension_back() -> None:
    padded = _padded_batch([5, 9, 7])
    data = pickle.loads(pickle.dumps(left_right_2_no_padding(padded.clone()).consolidate()))
    normalize_3d_position_ids(data)
    assert [s.tolist() for s in _slices(data)] == [s.tolist() for s in _expected_slices(padded)]


def test_an_unknown_layout_is_an_error_that_names_the_shapes() -> None:
    values = torch.zeros(COORDS, 10)
    broken = torch.nested.nested_tensor_from_jagged(values, torch.tensor([0, 3, 6]), jagged_dim=2)
    with pytest.raises(ValueError, match=r"values \(4, 10\), offsets ending at 6"):
        normalize_3d_position_ids(TensorDict({"position_ids": broken}, batch_size=[2]))


def test_verls_workers_call_the_fix() -> None:
    """In a fresh process, as in a Ray worker: the plugin patches the name before verl's workers import it."""
    code = (
        "import verl.workers.engine_workers as w, verl.workers.engine.base as b\n"
        "from recipes.verl_fixes import normalize_3d_position_ids as fix\n"
        "print(w.maybe_fix_3d_position_ids is fix, b.maybe_fix_3d_position_ids is fix)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.split()[-2:] == ["True", "True"]
