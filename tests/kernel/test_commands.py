"""Every `:command` gives the same answer in a notebook cell as in the REPL.

Each test runs the same inputs twice: in the kernel, one cell each, and in
the REPL, as piped standard input to the very binary the kernelspec starts.
The kernel's output (stream text, values' text/plain) must equal the REPL's
standard output, and a failure's traceback (colours removed) the REPL's
standard error. `:time`'s measured duration is the one thing masked.
tests/repl.rs checks what each answer says."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from conftest import KERNEL, TIMEOUT

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIME = re.compile(r"(time: |failed after )[0-9.]+ (µs|ms|s|min \d+ s)")


def hlab_binary() -> str:
    return KernelSpecManager().get_kernel_spec(KERNEL).argv[0]


def repl(inputs: list[str], cwd) -> tuple[str, str]:
    """stdout and stderr of the REPL given `inputs` on a pipe."""
    p = subprocess.run(
        [hlab_binary()],
        input="".join(i + "\n" for i in inputs),
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "HLAB_HISTORY": ""},
        timeout=TIMEOUT,
    )
    return p.stdout, p.stderr


def notebook(kernel, inputs: list[str]) -> tuple[str, str, list[dict]]:
    """The cells' output as the REPL would print it (stdout, stderr) and
    their replies."""
    out, err, replies = "", "", []
    for cell in inputs:
        reply, msgs = kernel.execute(cell)
        replies.append(reply["content"])
        for m in msgs:
            c = m["content"]
            if m["msg_type"] == "stream":
                if c["name"] == "stdout":
                    out += c["text"]
                else:
                    err += c["text"]
            elif m["msg_type"] in ("display_data", "execute_result"):
                out += c["data"]["text/plain"] + "\n"
            elif m["msg_type"] == "error":
                err += ANSI.sub("", "\n".join(c["traceback"])) + "\n"
    return out, err, replies


def same_answer(kernel, tmp_path, inputs: list[str]) -> tuple[str, str, list[dict]]:
    """Runs `inputs` in both front ends, asserts the answers are equal and
    returns the notebook's."""
    r_out, r_err = repl(inputs, tmp_path)
    n_out, n_err, replies = notebook(kernel, inputs)
    assert TIME.sub(r"\1T", n_out) == TIME.sub(r"\1T", r_out)
    assert TIME.sub(r"\1T", n_err) == TIME.sub(r"\1T", r_err)
    return n_out, n_err, replies


def test_help(kernel, tmp_path):
    out, err, replies = same_answer(kernel, tmp_path, [":help"])
    assert replies[-1]["status"] == "ok"
    assert ":vars" in out and ":time CODE" in out and err == ""


def test_help_name(kernel, tmp_path):
    out, _, _ = same_answer(kernel, tmp_path, [":help train", ":help Spectrum", ":help :load"])
    assert "train(m: Model, data: Dataset" in out and ":load FILE" in out


def test_help_of_an_unknown_name_is_an_error(kernel, tmp_path):
    _, err, replies = same_answer(kernel, tmp_path, [":help trian"])
    assert replies[-1]["status"] == "error"
    assert replies[-1]["ename"] == "CommandError"
    assert "did you mean `train`?" in replies[-1]["evalue"]
    assert err.startswith("error: no function or command named `trian`")


def test_vars(kernel, tmp_path):
    out, _, _ = same_answer(kernel, tmp_path, [":vars", 'let count = 3; let name = "x";', ":vars"])
    assert out.startswith("no variables yet\n")
    assert "count  int" in out


def test_time(kernel, tmp_path):
    out, _, replies = same_answer(kernel, tmp_path, [":time 6 * 7", ":time let t = 1"])
    assert replies[0]["status"] == "ok"
    assert re.fullmatch(r"42\ntime: \S+ \S+\ntime: \S+ \S+\n", out), out


def test_time_of_failing_code(kernel, tmp_path):
    _, err, replies = same_answer(kernel, tmp_path, [":time nope(1)"])
    assert replies[-1]["ename"] == "RuntimeError"
    assert "nope: unknown function" in replies[-1]["evalue"]
    assert "^" in err and "(failed after" in err


def test_save_and_load(kernel, tmp_path):
    saved = tmp_path / "saved.rhai"
    script = tmp_path / "script.rhai"
    script.write_text("let b = 40 + 2;\nb\n")
    out, _, _ = same_answer(
        kernel,
        tmp_path,
        ["let a = 1;", f":save {saved}", f":load {script}", "print(a + b);"],
    )
    assert out == f"saved 1 inputs to {saved}\n42\n43\n"
    assert "let a = 1;" in saved.read_text()


def test_load_of_a_missing_file_is_an_error(kernel, tmp_path):
    _, err, replies = same_answer(kernel, tmp_path, [f":load {tmp_path}/none.rhai"])
    assert replies[-1]["ename"] == "CommandError"
    assert err.startswith(f"error: :load: {tmp_path}/none.rhai:")


def test_reset(kernel, tmp_path):
    out, err, _ = same_answer(kernel, tmp_path, ["let a = 1;", ":reset", ":vars"])
    assert out == "session reset: every variable and function is forgotten\nno variables yet\n"
    assert err == ""


def test_unknown_command(kernel, tmp_path):
    _, err, replies = same_answer(kernel, tmp_path, [":hepl"])
    assert replies[-1]["ename"] == "CommandError"
    assert err == "error: unknown command `:hepl`; did you mean `:help`? (`:help` lists the commands)\n"


def test_quit_is_explained_in_a_notebook(kernel):
    """The one command a notebook cannot run: the REPL leaves, the kernel
    says how a notebook stops its kernel, and keeps running."""
    reply, _ = kernel.execute(":quit")
    assert reply["content"]["status"] == "error"
    assert "Kernel menu" in reply["content"]["evalue"]
    reply, msgs = kernel.execute("1 + 1")
    assert reply["content"]["status"] == "ok"


def test_a_cell_of_several_commands_runs_them_in_order(kernel, tmp_path):
    out, _, _ = notebook(kernel, [":time let v = [1,\n  2, 3];\n\n:vars\n:help nope\n:vars"])
    assert re.fullmatch(r"time: .*\nv  array  \[1, 2, 3\]\n", out), out
    reply, _ = kernel.execute(":vars\n:help nope\n:vars")
    assert reply["content"]["status"] == "error"


@pytest.mark.parametrize("code,want", [(":he", [":help"]), (":help trai", ["train"])])
def test_commands_complete_from_the_one_table(kernel, code, want):
    msg_id = kernel.kc.complete(code)
    matches = kernel.shell_reply(msg_id)["content"]["matches"]
    assert all(w in matches for w in want), matches
