"""Errors as real programs print them, one per language, for the folding and rules tests."""

from __future__ import annotations

PYTHON_TRACEBACK = """\
Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
    import flask
ModuleNotFoundError: No module named 'flask'"""

PYTHON_CHAINED = """\
Traceback (most recent call last):
  File "/srv/app/db.py", line 10, in connect
    sock.connect(("127.0.0.1", 5432))
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/main.py", line 20, in <module>
    connect()
  File "/srv/app/db.py", line 12, in connect
    raise RuntimeError("database unavailable") from None
RuntimeError: database unavailable"""

PYTHON_SYNTAX_ERROR = """\
  File "/srv/app/broken.py", line 1
    def (
        ^
SyntaxError: invalid syntax"""

PYTHON_311_CARETS = """\
Traceback (most recent call last):
  File "/srv/app/calc.py", line 2, in <module>
    print(1 / zero)
          ~~^~~~~~
ZeroDivisionError: division by zero"""

NODE_ERROR = """\
/srv/web/server.js:12
    throw new TypeError('Cannot read properties of undefined');
    ^

TypeError: Cannot read properties of undefined (reading 'port')
    at Object.<anonymous> (/srv/web/server.js:12:11)
    at Module._compile (node:internal/modules/cjs/loader:1256:14)
    at node:internal/main/run_main_module:23:47

Node.js v18.17.0"""

NODE_EADDRINUSE = """\
Error: listen EADDRINUSE: address already in use :::3000
    at Server.setupListenHandle [as _listen2] (node:net:1817:16)
    at listenInCluster (node:net:1865:12)
{
  code: 'EADDRINUSE',
  errno: -98,
  syscall: 'listen',
  address: '::',
  port: 3000
}"""

JAVA_EXCEPTION = """\
Exception in thread "main" java.lang.IllegalStateException: config missing
\tat com.example.App.load(App.java:42)
\tat com.example.App.main(App.java:10)
Caused by: java.io.FileNotFoundException: /etc/app.conf (No such file or directory)
\tat java.base/java.io.FileInputStream.open0(Native Method)
\t... 2 more"""

GO_PANIC = """\
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.lookup(...)
\t/src/app/main.go:8
main.main()
\t/src/app/main.go:12 +0x1d
exit status 2"""

RUST_PANIC = """\
thread 'main' panicked at src/main.rs:4:5:
called `Option::unwrap()` on a `None` value
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"""

TRACES = {
    "python": PYTHON_TRACEBACK,
    "python-chained": PYTHON_CHAINED,
    "python-syntax": PYTHON_SYNTAX_ERROR,
    "python-carets": PYTHON_311_CARETS,
    "javascript": NODE_ERROR,
    "javascript-eaddrinuse": NODE_EADDRINUSE,
    "java": JAVA_EXCEPTION,
    "go": GO_PANIC,
    "rust": RUST_PANIC,
}
