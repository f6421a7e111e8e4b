"""Losses that Keras lacks (backend-agnostic). Sparse categorical cross-entropy from Keras
serves the language-model tasks."""
