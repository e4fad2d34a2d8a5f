"""Atomic writes and JSON helpers. Every result, feature store and checkpoint goes through atomic_open."""
import contextlib
import json
import os
import tempfile


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_affixes(name) -> tuple:
    """(prefix, suffix) of atomic_open's temporary files for a file named `name`: .{name}.XXXXXXXX.tmp"""
    return "." + name + ".", ".tmp"


def _tmp_target(filename):
    """The name whose atomic_open temporary `filename` is (the inverse of _tmp_affixes), or None. mkstemp's random
    middle has no dot, so .a.npz.x.XXXX.tmp is a temporary of a.npz.x, not of a.npz."""
    if not (filename.startswith(".") and filename.endswith(".tmp")):
        return None
    name, dot, middle = filename[1:-len(".tmp")].rpartition(".")
    return name if dot and name and middle else None


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """Open a temporary file next to `path`; rename it over `path` only if the block succeeds.

    A crash, an exception or Ctrl-C inside the block leaves `path` untouched and no temporary file behind (SIGKILL
    does leave it: remove_stale_tmp on resume). The file gets the usual mode of a new file (0666 minus the umask,
    0644 under umask 022), not mkstemp's 0600.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    prefix, suffix = _tmp_affixes(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename is None:  # a failed write (full disk) names no file by itself
            raise OSError(e.errno, e.strerror or str(e), path) from None
        raise


def remove_stale_tmp(paths):
    """Remove the temporary files that atomic_open left next to `paths` when its process was killed mid-write
    (SIGKILL runs no cleanup): the files .{name}.XXXXXXXX.tmp of each path's folder."""
    by_folder = {}
    for p in paths:
        by_folder.setdefault(os.path.dirname(os.path.abspath(p)), set()).add(os.path.basename(p))
    for folder, names in by_folder.items():
        if not os.path.isdir(folder):
            continue
        for f in os.listdir(folder):
            if _tmp_target(f) in names:  # one set lookup per file: folders of 10k feature files
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(folder, f))


def check_writable_dir(path):
    """Create folder `path` if needed and prove that files can be written there; OSError naming it otherwise."""
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write_test.")
    except OSError as e:
        raise OSError(e.errno, f"cannot write to this folder ({e.strerror})", os.fspath(path)) from None
    os.close(fd)
    os.remove(probe)


def save_jsonl(rows, path):
    """Write rows as JSON lines, atomically (no trailing newline, as the reference's save_jsonl)."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r) for r in rows))


def save_npz(path, **arrays):
    """Write numpy arrays as an .npz, atomically (feature files, feature caches)."""
    import numpy as np
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def save_json(obj, path, indent=4, sort_keys=False):
    """Write JSON, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, sort_keys=sort_keys)


def load_json(path):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)
