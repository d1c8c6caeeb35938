"""CI: exit non-zero unless fastnn.build_info() has each KEY=VALUE given (VALUE a Python literal
or a bare word) and its compile_args lack each ARG given as without:ARG, so a build switch that did
not take effect fails the run. Prints what it found."""
import ast
import sys

import fastnn

info = fastnn.build_info()
print("fastnn.build_info():", info, "from", fastnn.__file__)
wrong = []
for arg in sys.argv[1:]:
    if arg.startswith("without:"):
        if arg[len("without:"):] in info["compile_args"]:
            wrong.append(f"compile_args has {arg[len('without:'):]}")
        continue
    key, _, text = arg.partition("=")
    try:
        want = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        want = text
    if info.get(key, "(missing)") != want:
        wrong.append(f"{key} is {info.get(key, '(missing)')!r}, expected {want!r}")
sys.exit("; ".join(wrong) if wrong else 0)
