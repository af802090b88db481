"""The FastAPI prediction service: app, micro-batcher, model manager with hot reload, metrics."""
