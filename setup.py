"""Declares the compiled extension and picks compiler flags; metadata lives in pyproject.toml.

Environment switches read at build time:

FASTNN_PORTABLE=1
    Do not tune for the building CPU (no ``-march=native``). Use it for any
    build that will run on another machine (wheels, shared environments).
FASTNN_DEBUG_CYTHON=1
    Compile the kernels with Cython bounds checks and wraparound on: slower,
    but an out-of-range index raises IndexError instead of reading memory.
FASTNN_OPENMP=0
    Build without OpenMP even where the compiler has it: every call then runs on one thread (as
    with a compiler without OpenMP, Apple's clang say), and no OpenMP runtime is loaded.
FASTNN_SANITIZE=address
    Compile and link with GCC's or Clang's AddressSanitizer, which reports a read
    or write outside any buffer the kernels were given (the C loops, which
    Cython's bounds checks do not see). Python itself is not built with it, so
    run with the runtime preloaded:
    ``LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 python ...``
"""
import json
import os
import sys
import tempfile

import numpy as np
import setuptools
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


# pyproject.toml's license is an SPDX string, which older setuptools reject with a long schema
# error; pip's isolated builds install a new enough one themselves (build-system.requires)
if int(setuptools.__version__.split(".")[0]) < 77:
    raise SystemExit(f"fastnn's build needs setuptools>=77, found {setuptools.__version__}: "
                     "pip install -U 'setuptools>=77' (pip install . fetches it itself)")


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_on(name):
    """False only when the variable says so (0, false, no, off); unset means on."""
    return os.environ.get(name, "").strip().lower() not in ("0", "false", "no", "off")


def _compiler_accepts(compiler, flags):
    """True when ``compiler`` compiles and links a trivial OpenMP-free C file with ``flags``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("int main(void) { return 0; }\n")
        try:
            objects = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objects, os.path.join(tmp, "probe"), extra_postargs=flags)
        except Exception:
            return False
    return True


class BuildExt(build_ext):
    """Adds optimisation, CPU tuning and OpenMP flags that the compiler accepts."""

    def build_extensions(self):
        sanitize = os.environ.get("FASTNN_SANITIZE", "").strip()
        if self.compiler.compiler_type == "msvc":
            if sanitize:
                raise SystemExit("FASTNN_SANITIZE is for GCC and Clang builds")
            compile_args, link_args = ["/O2"], []
            if _env_on("FASTNN_OPENMP") and _compiler_accepts(self.compiler, ["/openmp"]):
                compile_args.append("/openmp")
        else:
            if sanitize not in ("", "address"):
                raise SystemExit(f"FASTNN_SANITIZE must be 'address', got {sanitize!r}")
            # the sanitizer's flags go into every probe too: a probe linked without them fails
            base = ["-fsanitize=address", "-fno-omit-frame-pointer"] if sanitize else []

            def accepts(flags):
                return _compiler_accepts(self.compiler, base + flags)

            if base and not accepts([]):
                raise SystemExit("FASTNN_SANITIZE=address: the compiler cannot build with -fsanitize=address")
            # -fno-math-errno: sqrt need not set errno, so Adam's sqrt/divide loop vectorizes.
            # It changes no floating-point result (unlike -ffast-math, which is never used).
            compile_args, link_args = ["-O3", "-fno-math-errno"] + base, list(base)
            if not _env_flag("FASTNN_PORTABLE") and accepts(["-march=native"]):
                compile_args.append("-march=native")
                # on CPUs with AVX-512, let the vectorizer use 512-bit registers (measured: the row
                # kernel 5-15% faster here); elsewhere the flag changes nothing
                if accepts(["-march=native", "-mprefer-vector-width=512"]):
                    compile_args.append("-mprefer-vector-width=512")
            if _env_on("FASTNN_OPENMP") and accepts(["-fopenmp"]):
                compile_args.append("-fopenmp")
                link_args.append("-fopenmp")
            if base:
                print("fastnn: building with AddressSanitizer (FASTNN_SANITIZE=address)", file=sys.stderr)
        # What the kernels are built with. Neither Cython nor setuptools compares it with what the
        # files already in build/ were built with (only timestamps), so a switch set for a tree
        # built before would silently change nothing: a stamp of it in build/ forces a full
        # rebuild whenever it differs.
        config = json.dumps({
            "directives": directives, "compile": compile_args, "link": link_args,
            "compiler": list(getattr(self.compiler, "compiler_so", None) or [self.compiler.compiler_type]),
            "python": sys.version, "numpy": np.__version__,
        }, sort_keys=True)
        stamp = os.path.join(self.build_temp, "fastnn-build-config.json")
        try:
            with open(stamp) as f:
                built_with = f.read()
        except OSError:
            built_with = None
        if built_with != config:
            self.force = True
            if built_with is not None:
                os.remove(stamp)
        # the C file goes into build_temp too: generated for this configuration, never shared with another
        cythonized = cythonize(self.extensions, compiler_directives=directives,
                               build_dir=self.build_temp, force=self.force, quiet=True)
        sources = {ext.name: ext.sources for ext in cythonized}
        for ext in self.extensions:
            ext.sources = sources[ext.name]
            ext.extra_compile_args = compile_args + list(ext.extra_compile_args or [])
            ext.extra_link_args = link_args + list(ext.extra_link_args or [])
            # fastnn.build_info() reports them
            ext.define_macros = list(ext.define_macros or []) + [("FASTNN_COMPILE_ARGS", '"%s"' % " ".join(compile_args))]
        super().build_extensions()
        with open(stamp, "w") as f:     # (build_temp holds the C file cythonize wrote)
            f.write(config)


directives = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}
if _env_flag("FASTNN_DEBUG_CYTHON"):
    directives.update(boundscheck=True, wraparound=True, initializedcheck=True)
    print("fastnn: building with Cython bounds checks ON (FASTNN_DEBUG_CYTHON)", file=sys.stderr)

extensions = [
    Extension(
        "fastnn._core",
        ["src/fastnn/_core.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

setup(
    ext_modules=extensions,  # cythonized by BuildExt, for the configuration it builds
    cmdclass={"build_ext": BuildExt},
)
