"""Checkpoint to bundle: reading checkpoints, ONNX export with verification and quantisation,
and writing the bundle atomically. Needs torch and the ``export`` extra (onnx, onnxruntime)."""
