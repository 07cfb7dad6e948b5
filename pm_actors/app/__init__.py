"""The entry points, on top of everything else: the `pm-actors` command, the daemon, the
in-process backend. Nothing below imports this package, so the vocabulary at the bottom
(`pm_actors.api`, `results`, `specs`, `states`, `errors`, `config`) never loops back to it."""
