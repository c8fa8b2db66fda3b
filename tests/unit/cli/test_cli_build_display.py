"""`dockyard build`'s progress: docker's classic text off a terminal, timed steps on one."""

from __future__ import annotations

import io

from dockyard.cli.build import Display

STREAM = ["Step 1/3 : FROM busybox\n", " ---> 1a2b3c4d5e6f\n", "Step 2/3 : RUN echo hi\n",
          " ---> Running in 0123456789ab\n", "hi\n", " ---> Removed intermediate container 0123456789ab\n",
          " ---> 2b3c4d5e6f70\n", "Step 3/3 : CMD [\"sh\"]\n", " ---> Using cache\n", " ---> 3c4d5e6f7081\n",
          "Successfully built 3c4d5e6f7081\n"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


def test_plain_output_is_the_daemons_text_unchanged() -> None:
    out = io.StringIO()
    d = Display(False, out, Clock())
    for chunk in STREAM:
        d.feed(chunk)
    d.finish()
    assert out.getvalue() == "".join(STREAM)


def test_terminal_output_times_each_step_and_the_build() -> None:
    out = io.StringIO()
    d = Display(True, out, Clock())
    for chunk in STREAM:
        d.feed(chunk)
    d.finish()
    lines = [line.rsplit("\r\x1b[K", 1)[-1] for line in out.getvalue().split("\n") if line]
    assert lines == ["=> DONE Step 1/3 : FROM busybox 0.2s", "   hi", "=> DONE Step 2/3 : RUN echo hi 0.2s",
                     "=> CACHED Step 3/3 : CMD [\"sh\"] 0.2s", "Successfully built 3c4d5e6f7081",
                     "=> 3 steps (1 cached) in 1.8s"]
