"""Sottovoce: self-hosted real-time chat with end-to-end encryption."""

__version__ = "0.1.0"
