"""The model's input contract: per-type features of one video and one query -> the tensors the model reads.

Used by the dataset (training, evaluation) and by anything that builds inputs from freshly extracted features,
so both give bit-identical tensors:

    video = video_input([slowfast, clip, blip], max_v_l=75)     # float32 (Lv, 2304 + 512 + 768 + 2)
    query = query_input([clip_tokens, blip_tokens], max_q_l=32)  # float32 (Lq, 512 + 768)
    inputs = batch_inputs([video], [query])                      # src_vid, src_vid_mask, src_txt, src_txt_mask

Rules (the authors' StartEndDataset._get_video_feat_by_vid / _get_query_feat_by_qid and start_end_collate):
each feature type is cut to max_v_l rows (max_q_l tokens), cast to float32 and L2-normalised per row,
x / (||x|| + 1e-5); the types are cut to the shortest of them and concatenated in the given order; the video
gets the temporal endpoint feature tef [i / Lv, (i + 1) / Lv] as its last 2 dims. A batch is zero-padded at the
end to its longest item, with float masks (1 = valid).
"""
import numpy as np
import torch

def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Per-row L2 normalisation as the authors: x / (||x||_2 + 1e-5), in x's dtype (float32)."""
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-5)


def concat_types(feats, max_len=None, normalize=True) -> np.ndarray:
    """Per-type arrays (L_i, D_i) -> float32 (min_i min(L_i, max_len), sum_i D_i); see the module docstring."""
    cut = slice(None) if max_len is None or max_len < 0 else slice(max_len)
    feats = [f[cut].astype(np.float32) for f in feats]
    if normalize:
        feats = [l2_normalize(f) for f in feats]
    min_len = min(len(f) for f in feats)
    return np.concatenate([f[:min_len] for f in feats], axis=1)


def tef(ctx_l: int) -> np.ndarray:
    """Temporal endpoint feature float32 (ctx_l, 2): row i = [i / ctx_l, i / ctx_l + 1 / ctx_l]."""
    start = torch.arange(0, ctx_l, 1.0) / ctx_l
    return torch.stack([start, start + 1.0 / ctx_l], dim=1).numpy()


def video_input(feats, max_v_l=75, normalize=True, use_tef=True, use_video=True) -> np.ndarray:
    """Per-type clip features [(L_i, D_i), ...] -> float32 (Lv, sum D_i [+ 2]).

    use_video=False (ctx_mode "tef"): the input is the tef of max_v_l clips alone and `feats` is ignored.
    """
    if not use_video:
        return tef(max_v_l)
    v = concat_types(feats, max_v_l, normalize)
    # concatenated in numpy: torch's threaded copy is ~100x slower on a busy CPU
    return np.concatenate([v, tef(len(v))], axis=1) if use_tef else v


def query_input(feats, max_q_l=32, normalize=True) -> np.ndarray:
    """Per-type token features [(T_i, D_i), ...] -> float32 (Lq, sum D_i). The authors gate the text
    normalisation with the video flag (--no_norm_vfeat), so `normalize` is that flag."""
    return concat_types(feats, max_q_l, normalize)


def pad_sequences(sequences, dtype=np.float32):
    """Pad a list of (L_i, ...) tensors / arrays at the end to (B, max L_i, ...) with zeros.

    Returns torch tensors (padded of `dtype`, mask float32 (B, max L_i) with 1 = valid). The copies run in numpy:
    torch's multi-threaded copy kernels are two orders of magnitude slower when the CPU is shared.
    """
    arrays = [s.numpy() if isinstance(s, torch.Tensor) else np.asarray(s) for s in sequences]
    lengths = [len(a) for a in arrays]
    padded = np.zeros((len(arrays), max(lengths)) + tuple(arrays[0].shape[1:]), dtype=dtype)
    mask = np.zeros((len(arrays), max(lengths)), dtype=np.float32)
    for i, (a, n) in enumerate(zip(arrays, lengths)):
        padded[i, :n] = a
        mask[i, :n] = 1
    return torch.from_numpy(padded), torch.from_numpy(mask)


def batch_inputs(videos, queries, device="cpu", non_blocking=False):
    """B video inputs (Lv_i, Dv) and B query inputs (Lq_i, Dt) -> the model's keyword arguments on `device`:
    src_vid (B, Lv, Dv), src_vid_mask (B, Lv), src_txt (B, Lq, Dt), src_txt_mask (B, Lq); masks float, 1 = valid."""
    return model_inputs(pad_sequences(videos), pad_sequences(queries), device, non_blocking)


def model_inputs(video, query, device="cpu", non_blocking=False):
    """(src_vid, src_vid_mask) and (src_txt, src_txt_mask) padded pairs -> the model's keyword arguments on device."""
    out = dict(src_txt=query[0], src_txt_mask=query[1], src_vid=video[0], src_vid_mask=video[1])
    return {k: v.to(device, non_blocking=non_blocking) for k, v in out.items()}
