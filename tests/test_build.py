"""fastnn.build_info(): what the installed kernels were compiled with.

CI also checks it after each build it makes (.ci/expect_build.py): the plain build has no bounds
checks, the FASTNN_DEBUG_CYTHON=1 build has them, and a switch given to a tree built before
rebuilds it."""
import fastnn
from fastnn import _core


def test_build_info_says_what_the_build_is():
    info = fastnn.build_info()
    assert set(info) == {"openmp", "bounds_checks", "sanitizer", "compile_args"}
    assert isinstance(info["openmp"], bool) and isinstance(info["bounds_checks"], bool)
    assert info["sanitizer"] in (None, "address")
    assert isinstance(info["compile_args"], tuple) and info["compile_args"]
    assert all(isinstance(arg, str) and arg for arg in info["compile_args"])
    # what the compiler was given agrees with what the compiled code finds
    args = info["compile_args"]
    assert info["openmp"] == any(arg in ("-fopenmp", "/openmp") for arg in args)
    assert (info["sanitizer"] == "address") == ("-fsanitize=address" in args)


def test_bounds_checks_are_what_build_info_says():
    # with them a read one past a memoryview's end raises; without, it reads the buffer's next value
    assert fastnn.build_info()["bounds_checks"] is _core._bounds_checked()
    assert isinstance(_core._bounds_checked(), bool)


def test_build_info_is_a_fresh_dict_each_call():
    info = fastnn.build_info()
    info["openmp"] = "changed"
    info.clear()
    assert fastnn.build_info()["openmp"] in (True, False)

