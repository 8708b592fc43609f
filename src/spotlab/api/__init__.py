"""The public API v1: REST and WebSocket on FastAPI (``create_app``), thin over the exchange facade."""
