"""The hlab kernel against jupyter_kernel_test's protocol checks (every
message is validated against the message spec's schemas)."""

from __future__ import annotations

import unittest

import jupyter_kernel_test as jkt

from conftest import KERNEL


class HlabKernelTests(jkt.KernelTests):
    kernel_name = KERNEL
    language_name = "rhai"
    file_extension = ".rhai"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'debug("to stderr")'

    completion_samples = [
        {"text": "make_clu", "matches": {"make_clusters"}},
        {"text": "train(m, d, #{ l", "matches": {"lr", "log_every"}},
    ]

    complete_code_samples = ["1 + 1", "let x = 3;", "fn f(a) { a + 1 }", ""]
    incomplete_code_samples = [
        "fn f(a) {",
        "let v = [1, 2,",
        "if true {\n  print(1);",
        "let s = `abc",
        "1 +",
    ]
    invalid_code_samples = ["foo(1 2)", "let = 5;", "1 +* 2", 'let s = "abc']

    code_generate_error = "let y = no_such_variable + 1;"

    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": "let v = [1, 2, 3]; v.len()", "result": "3"},
        {"code": '"hl" + "ab"', "result": '"hlab"'},
    ]

    code_display_data = [
        {"code": "plot([1, 2, 3])", "mime": "image/svg+xml"},
        {"code": "plot([1, 2, 3]);", "mime": "text/plain"},
    ]

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "1 + *"

    code_inspect_sample = "make_clusters"

    def test_inspect_shows_the_doc(self) -> None:
        self.flush_channels()
        msg_id = self.kc.inspect("let d = make_clusters(#{ n: 10 ", cursor_pos=10)
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        jkt.validate_message(reply, "inspect_reply", msg_id)
        self.assertTrue(reply["content"]["found"])
        text = reply["content"]["data"]["text/plain"]
        self.assertIn("make_clusters", text)
        self.assertIn("Dataset", text)
        # Plain text without Markdown syntax; Markdown for JupyterLab's tooltip.
        self.assertNotIn("```", text)
        self.assertNotIn("# Example", text)
        self.assertIn("Example:", text)
        md = reply["content"]["data"]["text/markdown"]
        self.assertIn("```rhai\nmake_clusters(", md)
        self.assertIn("**Example**", md)
        self.assertNotIn("# Example", md)

    def test_inspect_unknown_name(self) -> None:
        self.flush_channels()
        msg_id = self.kc.inspect("qwertyuiop")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        jkt.validate_message(reply, "inspect_reply", msg_id)
        self.assertFalse(reply["content"]["found"])

    def test_error_has_name_value_and_caret(self) -> None:
        self.flush_channels()
        reply, outputs = self.execute_helper("let a = 1;\nlet b = a + undefined_thing;")
        self.assertEqual(reply["content"]["status"], "error")
        err = outputs[0]["content"]
        self.assertEqual(err["ename"], "RuntimeError")
        self.assertIn("undefined_thing", err["evalue"])
        self.assertTrue(any("^" in line for line in err["traceback"]), err["traceback"])
        # The session carries on with its variables.
        reply, outputs = self.execute_helper("a + 1")
        self.assertEqual(outputs[-1]["content"]["data"]["text/plain"], "2")

    def test_runaway_recursion_is_an_error_not_a_crash(self) -> None:
        self.flush_channels()
        reply, _ = self.execute_helper("fn f(n) { f(n + 1) }\nf(0)")
        self.assertEqual(reply["content"]["status"], "error")
        reply, outputs = self.execute_helper("6 * 7")
        self.assertEqual(outputs[-1]["content"]["data"]["text/plain"], "42")

    def test_syntax_error(self) -> None:
        self.flush_channels()
        reply, outputs = self.execute_helper("let = ;")
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "SyntaxError")

    def test_execution_count_increments(self) -> None:
        self.flush_channels()
        r1, _ = self.execute_helper("1")
        r2, out = self.execute_helper("2")
        self.assertEqual(r2["content"]["execution_count"], r1["content"]["execution_count"] + 1)
        result = [m for m in out if m["msg_type"] == "execute_result"][0]
        self.assertEqual(result["content"]["execution_count"], r2["content"]["execution_count"])

    def test_silent_execution_publishes_nothing(self) -> None:
        self.flush_channels()
        before, _ = self.execute_helper("0")
        reply, outputs = self.execute_helper('print("quiet"); 5', silent=True)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(outputs, [])
        self.assertEqual(reply["content"]["execution_count"], before["content"]["execution_count"])

    def test_plot_value_shown_once(self) -> None:
        self.flush_channels()
        reply, outputs = self.execute_helper("let p = plot([3, 1, 2]); p")
        kinds = [m["msg_type"] for m in outputs]
        self.assertEqual(kinds, ["display_data"], kinds)
        data = outputs[0]["content"]["data"]
        self.assertIn("<svg", data["image/svg+xml"])
        self.assertIn("text/plain", data)

    def test_completion_of_variables(self) -> None:
        self.flush_channels()
        self.execute_helper("let zebra_count = 3;")
        msg_id = self.kc.complete("1 + zebra_c")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        jkt.validate_message(reply, "complete_reply", msg_id)
        self.assertEqual(reply["content"]["matches"], ["zebra_count"])
        self.assertEqual(reply["content"]["cursor_start"], 4)
        self.assertEqual(reply["content"]["cursor_end"], 11)

    def test_completion_of_members_by_type(self) -> None:
        self.flush_channels()
        self.execute_helper("let net = mlp([2, 3, 2]);")
        msg_id = self.kc.complete("net.num_p")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        jkt.validate_message(reply, "complete_reply", msg_id)
        self.assertEqual(reply["content"]["matches"], ["num_params"])
        self.assertEqual(reply["content"]["cursor_start"], 4)

    def test_values_show_readably_not_as_rust_types(self) -> None:
        self.flush_channels()
        reply, outputs = self.execute_helper("eigs(matrix([[2.0, 0.0], [0.0, 1.0]]))")
        text = outputs[-1]["content"]["data"]["text/plain"]
        self.assertTrue(text.startswith("Spectrum"), text)
        self.assertNotIn("::", text)

    def test_comm_info(self) -> None:
        self.flush_channels()
        msg_id = self.kc.comm_info()
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        jkt.validate_message(reply, "comm_info_reply", msg_id)
        self.assertEqual(reply["content"]["comms"], {})

    def test_is_complete_incomplete_has_indent(self) -> None:
        self.flush_channels()
        msg_id = self.kc.is_complete("fn f(a) {")
        reply = self.get_non_kernel_info_reply(timeout=jkt.TIMEOUT)
        jkt.validate_message(reply, "is_complete_reply", msg_id)
        self.assertEqual(reply["content"]["status"], "incomplete")
        self.assertIn("indent", reply["content"])


if __name__ == "__main__":
    unittest.main()
