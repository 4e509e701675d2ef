"""StopRequest: how serve's supervision loop learns of Ctrl-C or SIGTERM."""

import os
import signal

from apps.core.process import StopRequest


def test_sigterm_and_sigint_each_set_a_stop_request():
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        for signum in previous:
            stopping = StopRequest()
            assert not stopping()
            os.kill(os.getpid(), signum)
            assert stopping()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
