"""Issue 18's kernel cases: a replay spelt in capitals is still a replay, a
request whose `code` is not a string gets an error reply, and the kernel
exits when the process named by JPY_PARENT_PID dies."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time

from jupyter_client.connect import write_connection_file
from jupyter_client.kernelspec import KernelSpecManager

from conftest import KERNEL, TIMEOUT, text_result
from test_security import assert_dropped, execute_content, forged_frames


def test_replay_with_an_upper_case_signature_is_dropped(kernel):
    key = kernel.kc.session.key
    msg_id, frames = forged_frames(
        kernel, "execute_request", execute_content("let n = 0; n += 1; print(\"ran\");"), key
    )
    kernel.kc.shell_channel.socket.send_multipart(frames)
    assert kernel.shell_reply(msg_id)["content"]["status"] == "ok"
    kernel.iopub_until_idle(msg_id)
    replay = copy.copy(frames)
    replay[1] = replay[1].upper()
    assert replay[1] != frames[1]
    kernel.kc.shell_channel.socket.send_multipart(replay)
    assert_dropped(kernel, msg_id)
    assert "dropped a message on shell" in kernel.stderr()


def test_code_that_is_not_a_string_is_an_error_reply(kernel):
    for bad in [42, None, ["1 + 1"], {"a": 1}]:
        content = execute_content("")
        content["code"] = bad
        msg = kernel.kc.session.msg("execute_request", content=content)
        kernel.kc.shell_channel.send(msg)
        reply = kernel.shell_reply(msg["header"]["msg_id"])
        assert reply["content"]["status"] == "error", (bad, reply)
        assert "expected `code` to be a string" in reply["content"]["evalue"], reply
        kernel.iopub_until_idle(msg["header"]["msg_id"])
    content = execute_content("1")
    del content["code"]
    msg = kernel.kc.session.msg("execute_request", content=content)
    kernel.kc.shell_channel.send(msg)
    assert kernel.shell_reply(msg["header"]["msg_id"])["content"]["status"] == "error"
    kernel.iopub_until_idle(msg["header"]["msg_id"])
    # A wrong `silent` is refused the same way, and the kernel goes on.
    content = execute_content("1")
    content["silent"] = "yes"
    msg = kernel.kc.session.msg("execute_request", content=content)
    kernel.kc.shell_channel.send(msg)
    reply = kernel.shell_reply(msg["header"]["msg_id"])
    assert "expected `silent` to be true or false" in reply["content"]["evalue"], reply
    kernel.iopub_until_idle(msg["header"]["msg_id"])
    reply, outputs = kernel.execute("40 + 2")
    assert text_result(outputs) == "42"


def test_kernel_exits_when_its_jpy_parent_dies(tmp_path):
    """The kernel's real parent (this test) stays alive; the process named
    by JPY_PARENT_PID is killed, and the kernel must follow it."""
    conn = str(tmp_path / "kernel.json")
    write_connection_file(conn, ip="127.0.0.1", key=b"k")
    argv = KernelSpecManager().get_kernel_spec(KERNEL).argv
    argv = [a.replace("{connection_file}", conn) for a in argv]
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    err = open(tmp_path / "stderr.txt", "w")
    env = dict(os.environ, JPY_PARENT_PID=str(stand_in.pid))
    kernel = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=err)
    try:
        # It keeps running while the stand-in parent lives.
        try:
            kernel.wait(timeout=2.5)
            raise AssertionError("the kernel exited while its parent lived")
        except subprocess.TimeoutExpired:
            pass
        stand_in.kill()
        stand_in.wait()
        t0 = time.monotonic()
        kernel.wait(timeout=TIMEOUT)
        assert time.monotonic() - t0 < 5, "the kernel took more than 5 s to notice"
        err.flush()
        assert "parent process exited" in (tmp_path / "stderr.txt").read_text()
    finally:
        for p in (kernel, stand_in):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        err.close()
