"""Checks that a model file from elsewhere goes through before any library reads it, shared by the checkpoint
reader (api.py) and the extractors (features/): they name what is wrong and read as little as they need.

    problem = safetensors_problem(path)    # None, or e.g. "not a safetensors file (declares a 2**60-byte header ...)"
    problem = model_id_problem(model_id)   # None for a local directory or a well-formed hub id ("owner/name")

Each returns the problem as text (or None) so that the caller raises its own error naming the file.
"""
import json
import math
import os
import re
import struct

# a model's or an export's config.json is a few KB; a larger one is refused before it is parsed
MAX_CONFIG_BYTES = 1 << 20
# safetensors' own bound on the JSON header (its MAX_HEADER_SIZE); a real header is a few KB to a few MB
MAX_SAFETENSORS_HEADER = 100_000_000
# bits per element of each safetensors dtype (the sub-byte float formats included)
SAFETENSORS_DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4,
                          "F6_E2M3": 6, "F6_E3M2": 6, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32,
                          "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64}
# a Hugging Face repo id: "name" or "owner/name", each of letters, digits, "-", "_", "." (at most 96 characters,
# no "--" or ".." and not starting with "-" or ".")
HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$", re.ASCII)


def safetensors_problem(path):
    """What is wrong with the .safetensors file `path`, or None. Reads its first 8 bytes (the header length N, a
    little-endian u64) and then N bytes of header only when N is within MAX_SAFETENSORS_HEADER and the file; the
    header must be a JSON object of {name: {"dtype", "shape", "data_offsets": [begin, end]}} (and an optional
    "__metadata__" of strings) whose spans lie in the data, do not overlap and hold shape-product x dtype-size bytes."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"not a safetensors file ({size} bytes, shorter than the 8-byte header length)"
            n = struct.unpack("<Q", head)[0]
            if n == 0 or n > MAX_SAFETENSORS_HEADER:
                return f"not a safetensors file (declares a {n}-byte header; at most {MAX_SAFETENSORS_HEADER})"
            if n > size - 8:
                return f"truncated or not a safetensors file (declares a {n}-byte header, the file has {size} bytes)"
            raw = f.read(n)
    except OSError as e:
        return f"cannot read ({e.strerror or e})"
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return f"not a safetensors file (its header is not UTF-8 JSON: {str(e)[:80]})"
    if not isinstance(header, dict):
        return f"not a safetensors file (its header is a JSON {type(header).__name__}, not an object)"
    data_size, spans = size - 8 - n, []
    for name, info in header.items():
        if name == "__metadata__":
            if not (isinstance(info, dict) and all(isinstance(v, str) for v in info.values())):
                return "its __metadata__ is not an object of strings"
            continue
        if not (isinstance(info, dict) and info.get("dtype") in SAFETENSORS_DTYPE_BITS):
            return f"tensor {name[:80]!r}: no known dtype ({str(info)[:80]})"
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            return f"tensor {name[:80]!r}: shape {str(shape)[:80]} is not a list of sizes"
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            return f"tensor {name[:80]!r}: data_offsets {str(offsets)[:80]} are not within the {data_size} data bytes"
        bits = math.prod(shape) * SAFETENSORS_DTYPE_BITS[info["dtype"]]
        if bits != 8 * (offsets[1] - offsets[0]):
            return (f"tensor {name[:80]!r}: shape {shape} of {info['dtype']} needs {bits / 8:g} bytes, its "
                    f"data_offsets span {offsets[1] - offsets[0]}")
        spans.append((offsets[0], offsets[1], name))
    spans.sort()
    for (_, end, a), (begin, _, b) in zip(spans, spans[1:]):
        if begin < end:
            return f"tensors {a[:80]!r} and {b[:80]!r} overlap"
    return None


def config_size_problem(path):
    """Why the config.json `path` is too large to parse (over MAX_CONFIG_BYTES), or None."""
    size = os.path.getsize(path)
    return f"{size} bytes, more than a config holds ({MAX_CONFIG_BYTES})" if size > MAX_CONFIG_BYTES else None


def model_id_problem(model):
    """Why `model` is neither an existing local directory nor a Hugging Face hub id ("owner/name"), or None."""
    if not isinstance(model, str) or not model:
        return f"{model!r}: not a model id or directory"
    if os.path.isdir(os.path.expanduser(model)):
        return None
    if ".." in re.split(r"[\\/]", model):
        return f"{model}: has a '..' path component (a hub id has none) and is no local directory"
    if os.path.isabs(os.path.expanduser(model)) or model.startswith(("~", ".")) or "\\" in model:
        return f"{model}: no such directory"
    if not HUB_ID.match(model) or "--" in model or ".." in model or model.endswith((".", "-")):
        return (f"{model[:200]}: neither a local directory nor a Hugging Face hub id (owner/name of letters, digits, "
                f"'-', '_' and '.')")
    return None
