"""Data: annotation loading and validation, feature stores, labels, batching, and the synthetic dataset.

Public API:
    build_dataset(opt, data_path, load_labels=True) -> StartEndDataset   (dataset[i] = {"meta", "model_inputs"})
    start_end_collate(batch) -> (metas, batched)
    prepare_batch_inputs(batched, device, non_blocking=False) -> (model_inputs, targets or None)
    DataError: raised for malformed annotations / features, message names file, line and field.
Command lines: python -m video_lights.data.{check,pack,synthetic} --help
"""
from video_lights.data.collate import prepare_batch_inputs, start_end_collate
from video_lights.data.dataset import StartEndDataset, build_dataset, label_kind
from video_lights.data.validate import DataError

__all__ = ["build_dataset", "start_end_collate", "prepare_batch_inputs", "DataError", "StartEndDataset", "label_kind"]
