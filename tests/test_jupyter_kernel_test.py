"""jupyter_kernel_test's suite against the installed hotrepl kernelspec, with a sample for
every test it has, so that none is skipped: every message it sees is checked against the
messaging spec's schemas."""

from __future__ import annotations

import pytest

jupyter_kernel_test = pytest.importorskip("jupyter_kernel_test")


@pytest.fixture(scope="module", autouse=True)
def kernelspec(jupyter_kernel: str) -> None:
    HotreplKernelTests.kernel_name = jupyter_kernel


class HotreplKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "hotrepl-tests"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('on stderr', file=sys.stderr)"

    completion_samples = [
        {"text": "zi", "matches": {"zip"}},
        {"text": "import collec", "matches": {"collections"}},
        {"text": "str.isdig", "matches": {"isdigit"}},
    ]
    complete_code_samples = ["1 + 1", "x = 1", "for i in range(3):\n    pass\n", "await asyncio.sleep(0)"]
    incomplete_code_samples = ["for i in range(3):", "def f(x):", "values = [1,", "x = 1 + \\"]
    invalid_code_samples = ["1 +* 2", "def f(:"]

    code_page_something = "len?"
    code_generate_error = "raise ValueError('as asked')"

    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": "'text'", "result": "'text'"},
        {"code": "class Shown:\n    def _repr_html_(self):\n        return '<b>rich</b>'\nShown()", "mime": "text/html"},
    ]
    code_display_data = [
        {"code": "import hotrepl\nclass Shown:\n    def _repr_html_(self):\n        return '<i>shown</i>'\nhotrepl.display(Shown())",
         "mime": "text/html"},
        {"code": "import hotrepl; hotrepl.display('plain')", "mime": "text/plain"},
    ]

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6?7"

    code_inspect_sample = "zip"
    code_clear_output = "import hotrepl; print('gone'); hotrepl.clear_output()"
