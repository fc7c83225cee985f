"""Issue 15, item 9: two agents on one state directory. The second is refused with a clear message.

Without the lock, a manual ``--once`` next to the DaemonSet agent saved the daemon's cap as the
node's "original"; after one was stopped and the other killed, ``--restore`` restored nothing
and the node stayed capped for good.
"""

from __future__ import annotations

import json
import signal

from joulie.cli import main
from tests.agent.hw import ORIG_LIMIT_UW, intel_two_socket, read, snapshot
from tests.security.agent_helpers import PKG0, agent_args, spawn_agent, wait_for, write_profile


def test_second_agent_on_the_same_state_dir_is_refused(tmp_path, capsys):
    sysroot, state = tmp_path / "sys", tmp_path / "state"
    sysroot.mkdir()
    intel_two_socket(sysroot)
    before = snapshot(sysroot)
    daemon = spawn_agent(
        agent_args(sysroot, state, "--profile", str(write_profile(tmp_path / "a.yaml", 120)), "--interval", "0.2")
    )
    try:
        assert wait_for(lambda: read(sysroot, PKG0) == "120000000"), "the daemon never applied its cap"
        once = agent_args(sysroot, state, "--profile", str(write_profile(tmp_path / "b.yaml", 100)), "--once")
        assert main(once) == 2
        err = capsys.readouterr().err
        assert f"another joulie agent (pid {daemon.pid}) is using the state directory {state}" in err
        assert read(sysroot, PKG0) == "120000000"  # the second agent wrote nothing
        assert main(agent_args(sysroot, state, "--restore")) == 2  # a restore would fight the daemon too
        saved = json.loads((state / "agent-originals.json").read_text())["originals"]["sysfs"]
        assert saved[PKG0] == ORIG_LIMIT_UW  # the true original, not the daemon's cap
    finally:
        daemon.send_signal(signal.SIGKILL)  # crash: the kernel releases the lock, the caps stay
        daemon.communicate(timeout=20)
    assert read(sysroot, PKG0) == "120000000"
    capsys.readouterr()
    assert main(agent_args(sysroot, state, "--restore")) == 0
    assert json.loads(capsys.readouterr().out) == {"failed": {}, "restored": 2}
    assert snapshot(sysroot) == before
