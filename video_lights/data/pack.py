"""Pack feature folders into HDF5 stores, so an epoch reads a few big files instead of decompressing thousands.

    python -m video_lights.data.pack DIR [DIR ...] [--compression none|lzf|gzip] [--overwrite]

Writes DIR.h5 next to each folder DIR (group per file stem, one dataset per npz array, "npy" for .npy files;
see features.py). Train on the packed stores with `--feat_store h5` (every feature dir D is read from D.h5) or by
passing the .h5 paths in --v_feat_dirs / --t_feat_dirs. The arrays are bit-identical to the folder's.
Uncompressed (the default) is fastest to read; it takes about 2x the disk of compressed npz files.
"""
import os
import sys

import numpy as np

from video_lights.data.features import H5_FORMAT, NPY_KEY
from video_lights.data.annotations import DataError
from video_lights.utils.cli import ArgumentParser, command


def pack_folder(folder, out_path=None, compression=None, overwrite=False, progress=False):
    """Pack `folder` (*.npz / *.npy) into an HDF5 store at out_path (default folder + ".h5"). Returns out_path.

    Written to a temporary file and renamed at the end, so an interrupted run leaves no partial store.
    """
    import h5py

    folder = os.path.normpath(folder)
    out_path = out_path or folder + ".h5"
    if not os.path.isdir(folder):
        raise DataError(f"{folder}: not a folder")
    if os.path.exists(out_path) and not overwrite:
        raise DataError(f"{out_path}: already exists (pass --overwrite to replace it)")
    files = sorted(f for f in os.listdir(folder) if f.endswith((".npz", ".npy")))
    if not files:
        raise DataError(f"{folder}: no .npz / .npy files to pack")
    comp = None if compression in (None, "none") else compression
    tmp = out_path + ".tmp"
    try:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = H5_FORMAT
            h5.attrs["source"] = os.path.basename(folder)
            it = files
            if progress and sys.stderr.isatty():
                from tqdm import tqdm
                it = tqdm(files, desc=os.path.basename(folder), unit="file")
            for name in it:
                stem, path = name[:-4], os.path.join(folder, name)
                g = h5.require_group(stem)
                try:
                    if name.endswith(".npz"):
                        with np.load(path) as z:
                            arrays = {k: z[k] for k in z.files}
                    else:
                        arrays = {NPY_KEY: np.load(path)}
                except Exception as e:
                    raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
                for k, a in arrays.items():
                    g.create_dataset(k, data=a, compression=comp if a.size > 1 else None)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out_path


@command
def main(argv=None):
    p = ArgumentParser(prog="python -m video_lights.data.pack", description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="feature folders to pack (each becomes FOLDER.h5)")
    p.add_argument("--compression", choices=["none", "lzf", "gzip"], default="none")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    for folder in a.folders:
        out = pack_folder(folder, compression=a.compression, overwrite=a.overwrite, progress=True)
        print(f"{folder} -> {out} ({os.path.getsize(out) / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
