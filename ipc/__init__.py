"""The daemon's socket: framed msgpack over a token-authenticated Unix socket (or loopback TCP).

The daemon runs `server.IpcServer`; the MCP shim and the CLI reach it through
`session.ClientSession` over a `client.DaemonClient` that `launcher.connect_or_start` opens.
Nothing here imports `mcp`, and this package imports none of its modules itself, so the
daemon loads only the server side.
"""
