"""The torch-free runtime: load an exported bundle and predict (onnxruntime, tokenizers, numpy)."""
