"""Convert PySlowFast's Caffe2 SLOWFAST_8x8_R50.pkl to the safetensors file that slowfast.load_slowfast reads.

    python -m video_lights.features.convert_slowfast SLOWFAST_8x8_R50.pkl [OUT.safetensors]

The .pkl (https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/SLOWFAST_8x8_R50.pkl) is a Python 2
pickle of {"blobs": {name: float32 numpy array}, ...}. It is read with a restricted unpickler that can build numpy
arrays and dtypes and nothing else (a pickle can name any function and call it), so a file that would run code is
refused before anything runs. The blob names map onto SlowFastR50's state_dict as PySlowFast's
`c2_model_loading.py` maps them; the optimizer blobs (*_momentum, lr, model_iter) are skipped; any other blob that
is missing, unexpected or misshapen is named and nothing is written. The output (~138 MB) is written atomically;
its metadata holds the width (64 for the real model).
"""
import os
import pickle
import re
import sys
from typing import Optional

import numpy as np
import torch

from video_lights.features.slowfast import (PKL_NAME, PKL_URL, STAGES, SlowFastError, SlowFastR50,
                                            default_weights_path, save_slowfast, state_dict_problems)
from video_lights.utils.cli import ArgumentParser, command

# ---- restricted unpickling -------------------------------------------------------------------------------------

# numpy's own pickling helpers, taken from numpy objects rather than imported by name (numpy.core is numpy._core
# since numpy 2; both spellings occur in pickles)
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]
_SCALAR = np.float32(0).__reduce__()[0]
_ALLOWED_GLOBALS = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED_GLOBALS[(_module, "_reconstruct")] = _RECONSTRUCT
    _ALLOWED_GLOBALS[(_module, "scalar")] = _SCALAR


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class _ArrayUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves only numpy's array / dtype / scalar reconstruction globals. Every other
    global (a class, os.system, ...) raises before it can be called."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(f"{module}.{name}") from None


def load_caffe2_blobs(path) -> dict:
    """The `blobs` dict {name: numpy array} of a Caffe2 checkpoint pickle (Python 2, latin-1 strings), unpickled
    with the restricted unpickler. SlowFastError naming the file on a missing, refused or malformed file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SlowFastError(f"{path}: no such file: download {PKL_NAME} from {PKL_URL}")
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except _RefusedGlobal as e:
        raise SlowFastError(f"{path}: refused to unpickle the global {e}: a Caffe2 checkpoint holds numpy arrays "
                            f"only (nothing was executed)") from None
    except Exception as e:  # not a pickle, truncated, corrupt: pickle fails in many ways
        raise SlowFastError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("blobs"), dict):
        found = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise SlowFastError(f"{path}: not a Caffe2 checkpoint: expected a dict with a 'blobs' dict, found {found}")
    return obj["blobs"]


# ---- blob names <-> state_dict names (PySlowFast c2_model_loading.py, re-expressed) ---------------------------

_TENSOR_SUFFIX = {"w": "weight", "b": "bias"}
_BN_SUFFIX = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}  # riv is the variance
# Caffe2 layer name -> (conv / linear module, its BN module) as regex replacements; t_ = the fast pathway
_LAYER_PATTERNS = [
    (r"t_pool1_subsample", "s1_fuse.conv_f2s", "s1_fuse.bn"),
    (r"t_res(\d+)_\d+_branch2c_bn_subsample", r"s\1_fuse.conv_f2s", r"s\1_fuse.bn"),
    (r"conv1", "s1.pathway0_stem.conv", None),
    (r"t_conv1", "s1.pathway1_stem.conv", None),
    (r"res_conv1", None, "s1.pathway0_stem.bn"),
    (r"t_res_conv1", None, "s1.pathway1_stem.bn"),
    (r"res(\d+)_(\d+)_branch2([abc])", r"s\1.pathway0_res\2.branch2.\3", r"s\1.pathway0_res\2.branch2.\3_bn"),
    (r"t_res(\d+)_(\d+)_branch2([abc])", r"s\1.pathway1_res\2.branch2.\3", r"s\1.pathway1_res\2.branch2.\3_bn"),
    (r"res(\d+)_(\d+)_branch1", r"s\1.pathway0_res\2.branch1", r"s\1.pathway0_res\2.branch1_bn"),
    (r"t_res(\d+)_(\d+)_branch1", r"s\1.pathway1_res\2.branch1", r"s\1.pathway1_res\2.branch1_bn"),
    (r"pred", "head.projection", None),
]
_LAYERS = [(re.compile(pattern + r"\Z"), conv, bn) for pattern, conv, bn in _LAYER_PATTERNS]
_LAST_BLOCK = {k + 2: n_blocks - 1 for k, (n_blocks, *_) in enumerate(STAGES)}  # {2: 2, 3: 3, 4: 5, 5: 2}


def is_optimizer_blob(name: str) -> bool:
    """Training state in the checkpoint, not model weights: momentum buffers, the learning rate, the iteration."""
    return name.endswith("_momentum") or name in ("lr", "model_iter")


def blob_to_key(name: str) -> Optional[str]:
    """The SlowFastR50 state_dict name of a Caffe2 blob name, e.g. `t_res4_5_branch2c_bn_subsample_bn_riv` ->
    `s4_fuse.bn.running_var`, `res3_0_branch1_w` -> `s3.pathway0_res0.branch1.weight`; None if it names nothing."""
    found = re.fullmatch(r"(.+)_bn_(s|b|rm|riv)", name)
    if found:
        layer, suffix, is_bn = found.group(1), _BN_SUFFIX[found.group(2)], True
    else:
        found = re.fullmatch(r"(.+)_(w|b)", name)
        if not found:
            return None
        layer, suffix, is_bn = found.group(1), _TENSOR_SUFFIX[found.group(2)], False
    for pattern, conv, bn in _LAYERS:
        matched = pattern.match(layer)
        module = (bn if is_bn else conv) if matched else None
        if module is not None:
            return f"{matched.expand(module)}.{suffix}"
    return None


def key_to_blob(key: str) -> str:
    """The Caffe2 blob name of a SlowFastR50 state_dict name: the inverse of blob_to_key (a lateral is named after
    the last block of the stage before it: t_res2_2 / t_res3_3 / t_res4_5_branch2c_bn_subsample)."""
    module, attr = key.rsplit(".", 1)
    parts = module.split(".")
    is_bn = parts[-1] == "bn" or parts[-1].endswith("_bn")
    suffix = {v: k for k, v in (_BN_SUFFIX if is_bn else _TENSOR_SUFFIX).items()}[attr]
    if module == "head.projection":
        layer = "pred"
    elif parts[0] == "s1_fuse":
        layer = "t_pool1_subsample"
    elif parts[0].endswith("_fuse"):
        stage = int(parts[0][1:-len("_fuse")])
        layer = f"t_res{stage}_{_LAST_BLOCK[stage]}_branch2c_bn_subsample"
    else:
        stage, pathway = parts[0][1:], parts[1]
        t = "t_" if pathway.startswith("pathway1") else ""
        if stage == "1":
            layer = t + ("res_conv1" if is_bn else "conv1")
        elif parts[2].startswith("branch1"):
            layer = f"{t}res{stage}_{pathway.split('_res')[1]}_branch1"
        else:  # branch2.{a,b,c} / branch2.{a,b,c}_bn
            layer = f"{t}res{stage}_{pathway.split('_res')[1]}_branch2{parts[3][0]}"
    return f"{layer}_bn_{suffix}" if is_bn else f"{layer}_{suffix}"


# ---- the conversion ----------------------------------------------------------------------------------------------

def _width_of(conv1_w) -> int:
    """The model width from the slow stem conv (width, 3, 1, 7, 7); 64 (the real model) when it is unusable, so that
    the shape check names it."""
    if isinstance(conv1_w, np.ndarray) and conv1_w.ndim == 5 and conv1_w.shape[0] > 0 and conv1_w.shape[0] % 8 == 0:
        return int(conv1_w.shape[0])
    return 64


def convert_blobs(blobs: dict, where: str):
    """(state_dict {name: float32 tensor} in the model's order, width) of a Caffe2 `blobs` dict. Strict: every model
    tensor present as a float32 array of the model's shape, no blob other than the optimizer's; SlowFastError
    naming every offending blob (by its Caffe2 name) otherwise. `where` names the file in the message."""
    width = _width_of(blobs.get("conv1_w"))
    with torch.device("meta"):
        model = SlowFastR50(width)
    ours = model.state_dict()
    tensors, unexpected, not_float32 = {}, [], []
    for name, value in blobs.items():
        if isinstance(name, str) and is_optimizer_blob(name):
            continue
        key = blob_to_key(name) if isinstance(name, str) else None
        if key is None or key not in ours or key_to_blob(key) != name:
            unexpected.append(str(name))
        elif not (isinstance(value, np.ndarray) and value.dtype == np.float32):
            kind = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
            not_float32.append(f"{name} ({kind})")
        else:
            tensors[key] = torch.from_numpy(np.ascontiguousarray(value))
    problems = state_dict_problems(tensors, model, name_of=key_to_blob)
    if unexpected:
        problems.append(f"unexpected blobs ({len(unexpected)}): " + ", ".join(unexpected))
    if not_float32:
        problems.append(f"not float32 arrays ({len(not_float32)}): " + ", ".join(not_float32))
    if problems:
        raise SlowFastError(f"{where}: not the SlowFast-R50 checkpoint (width {width}): " + "; ".join(problems))
    return {k: tensors[k] for k in ours}, width


def convert(pkl_path, out_path):
    """Convert `pkl_path` (Caffe2 SLOWFAST_8x8_R50.pkl) to `out_path` (.safetensors), atomically: nothing is
    written unless every tensor converts. Returns (width, number of tensors)."""
    pkl_path = os.fspath(pkl_path)
    state_dict, width = convert_blobs(load_caffe2_blobs(pkl_path), pkl_path)
    save_slowfast(state_dict, width, out_path)
    return width, len(state_dict)


@command
def main(argv=None):
    p = ArgumentParser(prog="python -m video_lights.features.convert_slowfast", description=__doc__.split("\n\n")[0])
    p.add_argument("pkl", help=f"PySlowFast's Caffe2 checkpoint {PKL_NAME} ({PKL_URL})")
    p.add_argument("out", nargs="?", help=f"the .safetensors file to write (default: {default_weights_path()})")
    args = p.parse_args(argv)
    out = args.out or default_weights_path()
    width, n = convert(args.pkl, out)
    print(f"{out}: {n} tensors of SlowFast-R50 (width {width}) from {args.pkl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
