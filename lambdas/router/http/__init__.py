"""The HTTP layer: the ASGI app, one module per wire format, and the table from failure kinds to HTTP."""
