"""Metrics and plots for a model's predictions; torch-free, shared by evaluate, the gate and drift."""
