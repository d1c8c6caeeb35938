"""CI: print the requirements the installed fastnn declares for the extra named on the command line
(what `pip install ".[EXTRA]"` would add), one per line; exit non-zero if it declares none."""
import re
import sys
from importlib.metadata import requires

extra = sys.argv[1]
for_extra = re.compile(r"""\bextra\s*==\s*["']%s["']""" % re.escape(extra))
found = []
for requirement in requires("fastnn") or []:
    name, _, marker = requirement.partition(";")
    if for_extra.search(marker):
        found.append(name.strip())
if not found:
    sys.exit(f"the installed fastnn declares no requirements for an extra named {extra!r}")
print("\n".join(found))
