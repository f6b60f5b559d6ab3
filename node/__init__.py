"""The fristed node: HTTP and WebSocket API, queues, rooms, accounts and the encrypted store."""

__version__ = "0.1.0"
