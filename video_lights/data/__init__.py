"""Data: dataset specs, annotations, feature stores, the model's input contract, labels, batching, synthetic data.

Public API:
    load_spec(name_or_file) -> DatasetSpec        (data/specs.py: what a dataset is)
    build_dataset(opt, data_path, spec=None) -> StartEndDataset   (dataset[i] = {"meta", "model_inputs"})
    video_input, query_input, batch_inputs        (data/inputs.py: the model's input contract)
    start_end_collate(batch) -> (metas, batched)
    prepare_batch_inputs(batched, device, non_blocking=False) -> (model_inputs, targets or None)
    DataError: raised for malformed annotations / features, message names file, line and field.
Command lines: python -m video_lights.data.{check,pack,synthetic} --help
"""
from video_lights.data.annotations import DataError
from video_lights.data.collate import prepare_batch_inputs, start_end_collate
from video_lights.data.dataset import StartEndDataset, build_dataset
from video_lights.data.inputs import batch_inputs, query_input, video_input
from video_lights.data.specs import REGISTRY, DatasetSpec, load_spec

__all__ = ["build_dataset", "start_end_collate", "prepare_batch_inputs", "DataError", "StartEndDataset",
           "load_spec", "DatasetSpec", "REGISTRY", "batch_inputs", "query_input", "video_input"]
