import sys


def _import_without_openssl() -> None:
    """The daemon's frames travel over a Unix socket or loopback TCP, never TLS, and it hashes
    with SHA-256 only: asyncio's TLS support and hashlib's OpenSSL backend would load OpenSSL
    (~7 MB of the daemon's memory) for nothing. Imported first with OpenSSL's modules hidden,
    asyncio runs without TLS and hashlib with its built-in hashes, as on a Python built without
    OpenSSL (both support that); ssl stays importable afterwards, for an https health check."""
    hidden = ("ssl", "_hashlib")
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import asyncio  # noqa: F401
        import hashlib  # noqa: F401
        import hmac  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


if sys.argv[1:] in (["daemon"], ["daemon", "run"]):  # with options, the command line reads them
    _import_without_openssl()
    from pm_actors.app.daemon import main as daemon_main

    raise SystemExit(daemon_main())

from pm_actors.app.cli import main  # noqa: E402

raise SystemExit(main())
