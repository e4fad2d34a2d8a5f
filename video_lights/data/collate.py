"""Batching: pad per-item tensors to the batch maximum and split them into model inputs and targets (the authors'
start_end_collate and prepare_batch_inputs)."""
import torch

from video_lights.data.inputs import model_inputs, pad_sequences


def start_end_collate(batch):
    """List of dataset items -> (list of meta dicts, batched dict).

    batched["query_feat"] = (float32 (B, Lq, Dt), mask (B, Lq)); batched["video_feat"] = ((B, Lv, Dv), (B, Lv));
    with labels: "span_labels" = [{"spans": (n_i, 2)}], "saliency_pos_labels"/"saliency_neg_labels" int64 (B, P),
    "saliency_all_labels" float32 (B, L), "saliency_pos_index" int64 (B, L) = (saliency_all_labels > 0).
    """
    metas = [e["meta"] for e in batch]
    batched = {}
    for k in batch[0]["model_inputs"]:
        values = [e["model_inputs"][k] for e in batch]
        if k == "span_labels":
            batched[k] = [{"spans": v} for v in values]
        elif k in ("saliency_pos_labels", "saliency_neg_labels"):
            batched[k] = torch.LongTensor(values)
        elif k == "saliency_all_labels":
            batched[k] = pad_sequences(values)[0]  # float64 labels -> float32
            batched["saliency_pos_index"] = (batched[k] > 0).long()
        else:
            batched[k] = pad_sequences(values)
    return metas, batched


def prepare_batch_inputs(batched_model_inputs, device, non_blocking=False):
    """Move a collated batch to `device`.

    Returns model_inputs {src_txt (B, Lq, Dt), src_txt_mask (B, Lq), src_vid (B, Lv, Dv), src_vid_mask (B, Lv)}
    (masks float, 1 = valid) and targets {span_labels: [{"spans": (n_i, 2) normalised cxw}], saliency_pos_labels,
    saliency_neg_labels (B, P), saliency_pos_index (B, Lv), saliency_all_labels (B, Lv)}, or None without labels.
    """
    def to(x):
        return x.to(device, non_blocking=non_blocking)

    inputs = model_inputs(batched_model_inputs["video_feat"], batched_model_inputs["query_feat"], device,
                          non_blocking)
    targets = {}
    if "span_labels" in batched_model_inputs:
        targets["span_labels"] = [{"spans": to(e["spans"])} for e in batched_model_inputs["span_labels"]]
    for name in ("saliency_pos_labels", "saliency_neg_labels", "saliency_pos_index", "saliency_all_labels"):
        if name in batched_model_inputs:
            targets[name] = to(batched_model_inputs[name])
    return inputs, (targets or None)
