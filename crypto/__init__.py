"""Keys and secrets: store key custody, local TLS CA, tokens, passwords, TOTP and backups.

This package never imports ``node``.
"""
