"""Code the Dask tests run inside worker processes (importable there: the tests put this folder on
the workers' PYTHONPATH)."""

import os
import signal

from distributed.diagnostics.plugin import WorkerPlugin


class KillOnce(WorkerPlugin):
    """Kills its worker process (SIGKILL, as the OOM killer would) right after the worker has run
    the task whose key ends with key_suffix, before the result reaches the scheduler: once per
    marker file, whichever worker gets there first. The marker holds the killed process's id."""

    name = "optout-kill-once"

    def __init__(self, marker, key_suffix):
        self.marker = marker
        self.key_suffix = key_suffix

    def transition(self, key, start, finish, **kwargs):
        if start != "executing" or not str(key).endswith(self.key_suffix):
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)
