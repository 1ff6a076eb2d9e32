"""Exceptions of the MLS library. Every rejection names the rule that failed."""

from __future__ import annotations


class MLSError(Exception):
    """Base of every error the MLS library raises; the group state is unchanged after one."""


class DecodeError(MLSError):
    """Bytes that are not a valid TLS-presentation encoding of the expected structure."""
