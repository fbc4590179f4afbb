"""The page and the websocket gateway between it and the bus."""
