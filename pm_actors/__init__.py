"""pm-actors: a process manager that an LLM drives over the Model Context Protocol."""

__version__ = "0.1.0"
"""The one place the version is written: pyproject.toml reads it, and so do the daemon's welcome
and the MCP server's info (without importlib.metadata, which costs the daemon megabytes)."""
