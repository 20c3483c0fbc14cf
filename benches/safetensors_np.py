"""Read a safetensors file into numpy arrays without the `safetensors` module.

Layout: an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
data_offsets), then the raw little-endian tensor data.
"""

import json
import struct

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read(path):
    """Name -> float32 numpy array."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        arr = np.frombuffer(data[lo:hi], dtype=DTYPES[meta["dtype"]]).reshape(meta["shape"])
        out[name] = arr.astype(np.float32)
    return out
