"""sentiops: tweet sentiment from fine-tuning to production."""

__version__ = "0.1.0"
