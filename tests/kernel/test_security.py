"""Every incoming message is verified: one signed with the wrong key, with
no signature, tampered with, or replayed gets no reply and has no effect,
and the kernel keeps serving."""

from __future__ import annotations

import copy

from jupyter_client.session import Session

from conftest import text_result


def forged_frames(kernel, msg_type: str, content: dict, key: bytes) -> tuple[str, list[bytes]]:
    forger = Session(key=key, session=kernel.kc.session.session, username="mallory")
    msg = forger.msg(msg_type, content=content)
    return msg["header"]["msg_id"], forger.serialize(msg)


def execute_content(code: str) -> dict:
    return {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }


def assert_dropped(kernel, forged_id: str) -> None:
    """A valid request sent after the forged one is answered first: shell
    requests are handled in order, so the forged one was never handled."""
    check_id = kernel.kc.kernel_info()
    reply = kernel.kc.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == check_id, reply
    for msg in kernel.iopub_until_idle(check_id):
        assert msg["parent_header"].get("msg_id") != forged_id


def test_wrong_key_is_dropped_without_effect(kernel):
    code = 'let forged = 1; print("FORGED RAN");'
    forged_id, frames = forged_frames(
        kernel, "execute_request", execute_content(code), b"not-the-key"
    )
    kernel.kc.shell_channel.socket.send_multipart(frames)
    assert_dropped(kernel, forged_id)
    reply, outputs = kernel.execute("is_def_var(\"forged\")")
    assert reply["content"]["status"] == "ok"
    assert text_result(outputs) == "false"
    assert all("FORGED" not in str(m["content"]) for m in outputs)
    assert "dropped a message on shell: invalid HMAC signature" in kernel.stderr()


def test_unsigned_and_tampered_are_dropped(kernel):
    key = kernel.kc.session.key
    # No signature at all.
    forged_id, frames = forged_frames(kernel, "execute_request", execute_content("let a = 1;"), key)
    frames[1] = b""
    kernel.kc.shell_channel.socket.send_multipart(frames)
    assert_dropped(kernel, forged_id)
    # Signed, then the code changed.
    forged_id, frames = forged_frames(kernel, "execute_request", execute_content("1"), key)
    frames[-1] = kernel.kc.session.pack(execute_content("let a = 1;"))
    kernel.kc.shell_channel.socket.send_multipart(frames)
    assert_dropped(kernel, forged_id)
    reply, outputs = kernel.execute('is_def_var("a")')
    assert text_result(outputs) == "false"


def test_replayed_message_is_dropped(kernel):
    key = kernel.kc.session.key
    msg_id, frames = forged_frames(
        kernel, "execute_request", execute_content('print("ran once");'), key
    )
    kernel.kc.shell_channel.socket.send_multipart(frames)
    reply = kernel.shell_reply(msg_id)
    assert reply["content"]["status"] == "ok"
    kernel.iopub_until_idle(msg_id)
    kernel.kc.shell_channel.socket.send_multipart(copy.copy(frames))
    assert_dropped(kernel, msg_id)
    assert "replayed" in kernel.stderr()


def test_forged_control_messages_are_dropped(kernel):
    forged_id, frames = forged_frames(kernel, "shutdown_request", {"restart": False}, b"bad")
    kernel.kc.control_channel.socket.send_multipart(frames)
    # A signed request on the same channel is still answered, so the forged
    # shutdown (sent first) was not acted on.
    check = kernel.kc.session.msg("kernel_info_request", content={})
    kernel.kc.control_channel.send(check)
    reply = kernel.kc.control_channel.get_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == check["header"]["msg_id"]
    assert kernel.km.is_alive()
    reply, outputs = kernel.execute("40 + 2")
    assert text_result(outputs) == "42"
    assert "dropped a message on control" in kernel.stderr()
