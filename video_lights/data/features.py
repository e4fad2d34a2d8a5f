"""Feature stores: a folder of npz/npy files (the released layout) or one packed HDF5 file per folder.

Both give the same arrays for `read(stem, key)`:
    folder  D/{stem}.npz  (array `key`, e.g. "features", "last_hidden_state", "token")  or  D/{stem}.npy
    packed  D.h5          group `stem` holding one dataset per npz key, or the dataset "npy" for a .npy file
Build a packed store with `python -m video_lights.data.pack D [D ...]` (see pack.py).
A video whose features are two streams, {vid}_rgb and {vid}_opt (the released TVSum I3D layout), is read as their
concatenation along features: the store itself says which layout it holds, whatever the folder is called.

HDF5 handles are opened lazily in each process, so a store can be created before DataLoader workers fork.
"""
import os

import numpy as np

from video_lights.data.annotations import DataError, MissingStoreError, check_feature_array

H5_FORMAT = "video_lights.features/1"
NPY_KEY = "npy"  # dataset name used in the packed store for a .npy source file


class NpzFolderStore:
    """A folder of `{stem}.npz` (or `{stem}.npy`) files."""

    def __init__(self, path):
        if not os.path.isdir(path):
            raise MissingStoreError(f"{path}: feature folder not found")
        self.path = path
        self._names = None

    def names(self) -> set:
        """Stems of all feature files in the folder (listed once)."""
        if self._names is None:
            try:
                files = os.listdir(self.path)
            except OSError as e:
                raise DataError(f"{self.path}: cannot list the feature folder ({e.strerror})") from None
            self._names = {f[:-4] for f in files if f.endswith((".npz", ".npy"))}
        return self._names

    def file_of(self, stem) -> str:
        npz = os.path.join(self.path, f"{stem}.npz")
        return npz if os.path.exists(npz) else os.path.join(self.path, f"{stem}.npy")

    def read(self, stem, key) -> np.ndarray:
        """Array `key` of {stem}.npz, falling back to {stem}.npy (as the reference loader does)."""
        npz = os.path.join(self.path, f"{stem}.npz")
        npy = os.path.join(self.path, f"{stem}.npy")
        if os.path.exists(npz):
            try:
                with np.load(npz) as z:
                    if key in z.files:
                        return z[key]
                    files = z.files
            except Exception as e:  # zipfile / pickle / OS errors of a corrupt file
                raise DataError(f"{npz}: cannot read ({type(e).__name__}: {e})") from None
            if not os.path.exists(npy):
                raise DataError(f"{npz}: has no array '{key}' (arrays: {', '.join(files)})")
        if os.path.exists(npy):
            try:
                return np.load(npy)
            except Exception as e:
                raise DataError(f"{npy}: cannot read ({type(e).__name__}: {e})") from None
        raise DataError(f"{self.path}: no feature file for '{stem}' ({stem}.npz or {stem}.npy)")

    def __repr__(self):
        return f"NpzFolderStore({self.path!r})"


class H5Store:
    """A packed HDF5 store written by pack.py: group per stem, dataset per npz key ("npy" for .npy files)."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise MissingStoreError(f"{path}: packed feature store not found (build it with "
                            f"`python -m video_lights.data.pack {path[:-3] if path.endswith('.h5') else path}`)")
        self.path = path
        self._file = None
        self._pid = None
        self._names = None

    def _h5(self):
        import h5py

        if self._file is None or self._pid != os.getpid():  # reopen after a DataLoader worker fork
            try:
                self._file = h5py.File(self.path, "r")
                fmt = self._file.attrs.get("format")
            except OSError as e:  # truncated, damaged or not HDF5 at all
                raise DataError(f"{self.path}: cannot open the packed feature store ({e}); rebuild it with "
                                f"python -m video_lights.data.pack") from None
            self._pid = os.getpid()
            if fmt != H5_FORMAT:
                raise DataError(f"{self.path}: not a video_lights packed feature store")
        return self._file

    def names(self) -> set:
        if self._names is None:
            f = self._h5()
            try:
                self._names = set(f.keys())
            except OSError as e:  # a damaged index
                raise DataError(f"{self.path}: cannot list the packed feature store ({e})") from None
        return self._names

    def file_of(self, stem) -> str:
        return f"{self.path}[{stem}]"

    def read(self, stem, key) -> np.ndarray:
        f = self._h5()
        if stem not in f:
            raise DataError(f"{self.path}: no features for '{stem}'")
        g = f[stem]
        name = key if key in g else NPY_KEY if NPY_KEY in g else None
        if name is not None:
            try:
                return g[name][()]
            except OSError as e:  # a damaged chunk
                raise DataError(f"{self.path}[{stem}/{name}]: cannot read ({e})") from None
        raise DataError(f"{self.path}[{stem}]: has no array '{key}' (arrays: {', '.join(g.keys())})")

    def __getstate__(self):  # picklable for spawn-based workers: drop the open handle
        d = dict(self.__dict__)
        d["_file"] = None
        return d

    def __repr__(self):
        return f"H5Store({self.path!r})"


TWO_STREAMS = ("_rgb", "_opt")  # I3D: appearance and optical-flow streams, concatenated in this order


def video_stems(store, vid):
    """The file stems holding video `vid` in `store`: [vid], or [vid_rgb, vid_opt] for two-stream features."""
    if vid not in store.names() and all(vid + s in store.names() for s in TWO_STREAMS):
        return [vid + s for s in TWO_STREAMS]
    return [vid]


def read_video(store, vid, max_v_l=None):
    """Video `vid` of one store as (L, D), cut to max_v_l rows per stream (two streams: concatenated, D = sum)."""
    cut = slice(None) if max_v_l is None or max_v_l < 0 else slice(max_v_l)
    parts = []
    for stem in video_stems(store, vid):
        arr = store.read(stem, "features")
        check_feature_array(arr, store.file_of(stem), what="video")
        parts.append(arr[cut])
    if len({len(p) for p in parts}) > 1:
        raise DataError(f"{store.path}: the streams of '{vid}' have different lengths "
                        f"({', '.join(str(len(p)) for p in parts)})")
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


def read_text(store, stem, key):
    """Token features (T, D) of one query from one store."""
    arr = store.read(stem, key)
    check_feature_array(arr, store.file_of(stem), what="text")
    return arr


def open_store(path):
    """A store for `path`: an .h5/.hdf5 file -> H5Store, otherwise a folder -> NpzFolderStore."""
    if str(path).endswith((".h5", ".hdf5")):
        return H5Store(path)
    return NpzFolderStore(path)
