"""Fine-tuning (needs the `train` extra: torch + transformers), evaluation and ONNX export."""
