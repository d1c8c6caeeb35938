# Type stub of the compiled kernels (src/fastnn/_core.pyx). Arrays are C-contiguous; theta, X, Y,
# out, grad, v, m1 and m2 share one dtype, float32 or float64; sizes, offsets, acts, order are intp.
from typing import Any

import numpy as np
import numpy.typing as npt

_Floats = npt.NDArray[np.floating[Any]]
_Intps = npt.NDArray[np.intp]

# list_nonzeros, list_csr: (starts, idx intc, values, None), or packed (starts, idx uint16, codes uint8, table (256,))
_Listed = (tuple[_Intps, npt.NDArray[np.intc], _Floats, None]
           | tuple[_Intps, npt.NDArray[np.uint16], npt.NDArray[np.uint8], _Floats])

ACTIVATIONS: dict[str, int]
LOSSES: dict[str, int]
SKLEARN_LOG_LOSS: int
OPTIMIZERS: dict[str, int]

def evaluate(theta: _Floats, sizes: _Intps, offsets: _Intps, acts: _Intps, loss_code: int, X: _Floats,
             Y: _Floats, out: _Floats, grad: _Floats, want_out: bool, want_loss: bool, want_grad: bool,
             n_threads: int = ..., listed: _Listed | None = ..., lists_only: bool = ...) -> float: ...
def train_epoch(theta: _Floats, sizes: _Intps, offsets: _Intps, acts: _Intps, loss_code: int, X: _Floats,
                Y: _Floats, order: _Intps, batch_size: int, optimizer: int, eta: float, normalized: bool,
                l2: float, momentum: float, beta_1: float, beta_2: float, epsilon: float, t: int,
                v: _Floats, m1: _Floats, m2: _Floats, n_threads: int = ...,
                asynchronous: bool = ...,
                listed: _Listed | None = ...,
                loss: float = ...,
                sample_weight: _Floats | None = ...,
                penalty: npt.NDArray[np.float64] | None = ...,
                lists_only: bool = ...) -> tuple[float, int]: ...
def list_nonzeros(X: _Floats, n_out: int, n_threads: int = ...) -> _Listed | None: ...
def list_csr(indptr: npt.ArrayLike, indices: npt.ArrayLike, data: npt.ArrayLike, n_in: int,
             n_out: int) -> _Listed | None: ...
def packed_size(sizes: _Intps) -> int: ...
def aligned(n: int, dtype: npt.DTypeLike, zero: bool = ...) -> _Floats: ...
def all_finite(v: _Floats) -> bool: ...
def _build_info() -> dict[str, Any]: ...
def _flush_available() -> bool: ...
def _enter_flush(n_threads: int) -> npt.NDArray[np.int64]: ...
def _leave_flush(saved: npt.NDArray[np.int64]) -> None: ...
def _fp_modes(n_threads: int) -> npt.NDArray[np.int64]: ...
