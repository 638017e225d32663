"""interrupt_request (control channel) stops a running cell and keeps the
session's state; output streams while the cell runs."""

from __future__ import annotations

import time

from conftest import TIMEOUT, text_result


def wait_for_stream(kernel, msg_id: str, text: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no stream {text!r} within {TIMEOUT} s"
        msg = kernel.kc.get_iopub_msg(timeout=left)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "stream"
            and text in msg["content"]["text"]
        ):
            return


def interrupt_and_check(kernel, code: str, marker: str) -> float:
    """Runs `code` (which prints `marker` then runs forever), interrupts it
    once the marker has streamed, and returns the seconds until the reply."""
    msg_id = kernel.kc.execute(code)
    # The marker arrives while the cell is still running: output streams.
    wait_for_stream(kernel, msg_id, marker)
    start = time.monotonic()
    kernel.km.interrupt_kernel()
    reply = kernel.shell_reply(msg_id, timeout=10)
    elapsed = time.monotonic() - start
    assert reply["content"]["status"] == "error", reply["content"]
    assert reply["content"]["ename"] == "Interrupted", reply["content"]
    outputs = kernel.iopub_until_idle(msg_id)
    errors = [m for m in outputs if m["msg_type"] == "error"]
    assert errors and errors[0]["content"]["ename"] == "Interrupted"
    return elapsed


def test_interrupt_rhai_loop_keeps_variables(kernel):
    reply, _ = kernel.execute("let x = 41;")
    assert reply["content"]["status"] == "ok"
    elapsed = interrupt_and_check(kernel, 'print("looping"); loop { x += 0; }', "looping")
    print(f"interrupt of a Rhai loop answered in {elapsed:.3f} s")
    assert elapsed < 5, elapsed
    reply, outputs = kernel.execute("x + 1")
    assert reply["content"]["status"] == "ok"
    assert text_result(outputs) == "42"


def test_interrupt_training_keeps_model(kernel):
    setup = (
        "let x = 41;\n"
        "let d = make_clusters(#{ n: 200, k: 4, dim: 10, seed: 1 });\n"
        "let m = mlp([10, 16, 4], #{ seed: 1 });"
    )
    reply, _ = kernel.execute(setup)
    assert reply["content"]["status"] == "ok", reply["content"]
    elapsed = interrupt_and_check(
        kernel, 'print("training"); train(m, d, #{ epochs: 1000000 })', "training"
    )
    print(f"interrupt of train answered in {elapsed:.3f} s")
    assert elapsed < 5, elapsed
    reply, outputs = kernel.execute("x + m.num_params - m.num_params + 1")
    assert text_result(outputs) == "42", outputs


def test_interrupt_when_idle_is_harmless(kernel):
    kernel.km.interrupt_kernel()
    reply, outputs = kernel.execute("1 + 1")
    assert reply["content"]["status"] == "ok"
    assert text_result(outputs) == "2"


def test_shutdown_with_restart_flag_echoed(kernel):
    msg_id = kernel.kc.shutdown(restart=True)
    deadline = time.monotonic() + TIMEOUT
    # jupyter_client sends shutdown on the control channel.
    while True:
        left = deadline - time.monotonic()
        assert left > 0
        msg = kernel.kc.control_channel.get_msg(timeout=left)
        if msg["parent_header"].get("msg_id") == msg_id:
            break
    assert msg["msg_type"] == "shutdown_reply"
    assert msg["content"] == {"status": "ok", "restart": True}
    # The process exits by itself.
    deadline = time.monotonic() + TIMEOUT
    while kernel.km.is_alive():
        assert time.monotonic() < deadline, "kernel still alive after shutdown_request"
        time.sleep(0.05)


def test_cells_queued_behind_a_failed_cell_are_aborted(kernel):
    first = kernel.kc.execute('print("busy"); loop {}')
    wait_for_stream(kernel, first, "busy")
    # Queued while the first cell runs, as "Run All" does.
    second = kernel.kc.execute("let after = 1;")
    kernel.km.interrupt_kernel()
    assert kernel.shell_reply(first)["content"]["ename"] == "Interrupted"
    reply = kernel.shell_reply(second)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "Aborted"
    reply, outputs = kernel.execute('is_def_var("after")')
    assert text_result(outputs) == "false"


def test_stop_on_error_false_runs_queued_cells(kernel):
    first = kernel.kc.execute('print("busy"); loop {}', stop_on_error=False)
    wait_for_stream(kernel, first, "busy")
    second = kernel.kc.execute("let after = 1;")
    kernel.km.interrupt_kernel()
    assert kernel.shell_reply(first)["content"]["ename"] == "Interrupted"
    assert kernel.shell_reply(second)["content"]["status"] == "ok"
    reply, outputs = kernel.execute('is_def_var("after")')
    assert text_result(outputs) == "true"
