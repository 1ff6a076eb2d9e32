"""MLS (RFC 9420) in pure Python, sans-I/O, on the ``cryptography`` package."""
