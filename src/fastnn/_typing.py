"""Type aliases used in the annotations of fastnn's public API."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, Literal, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayLike", "Callback", "DTypeLike", "FloatArray", "IntArray", "PathLike", "Seed"]

ArrayLike = npt.ArrayLike
DTypeLike = npt.DTypeLike
FloatArray = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.int64]
# a file name, as open() takes it
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
# anything numpy.random.default_rng accepts
Seed = Union[None, int, Sequence[int], np.random.SeedSequence, np.random.BitGenerator, np.random.Generator]
# callback(network, info) after each epoch; True stops training
Callback = Callable[[Any, Dict[str, Any]], Optional[bool]]
Activation = Literal["sigmoid", "tanh", "relu", "identity"]
OutputActivation = Literal["sigmoid", "tanh", "relu", "identity", "softmax", "exp"]
Loss = Literal["quadratic", "cross_entropy", "poisson"]
Init = Literal["normal", "scaled", "glorot", "he"]
OptimizerName = Literal["sgd", "momentum", "nesterov", "adam"]
LRSchedule = Literal["constant", "invscaling", "adaptive"]
