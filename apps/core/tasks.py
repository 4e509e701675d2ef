import os
import socket

from django.tasks import task


@task
def worker_identity():
    """Reports which process ran it: proves tasks leave the web process."""
    return {"host": socket.gethostname(), "pid": os.getpid()}
