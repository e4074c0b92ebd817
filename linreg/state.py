"""A model's parameters as exact values: content hash and JSON round trip of a state_dict."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch

from linreg.json_types import JsonObject
from linreg.numerics import TORCH_DTYPES

_DTYPE_NAMES = {dtype: name for name, dtype in TORCH_DTYPES.items()}


def state_dict_hash(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over each tensor's name, dtype, shape and raw bytes, in name order.

    Hashing contents rather than the pickle file makes the hash independent of torch's
    serialisation format, of the device the tensors lived on and of file metadata.
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(repr(tuple(tensor.shape)).encode())
        # Raw bytes via a uint8 view: exact for every dtype, bfloat16 included.
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def state_to_json(state: Mapping[str, torch.Tensor]) -> JsonObject:
    """Exact values: every float16/bfloat16/float32 value is a float64, and JSON keeps float64."""
    out = {}
    for name in sorted(state):
        tensor = state[name].detach().to("cpu")
        out[name] = {
            "dtype": _DTYPE_NAMES.get(tensor.dtype, str(tensor.dtype)),
            "shape": list(tensor.shape),
            "values": tensor.to(torch.float64).reshape(-1).tolist(),
        }
    return out


def state_from_json(data: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    return {
        name: torch.tensor(entry["values"], dtype=torch.float64)
        .to(TORCH_DTYPES[entry["dtype"]])
        .reshape(entry["shape"])
        for name, entry in data.items()
    }
