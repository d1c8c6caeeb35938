"""A hyper-parameter search on a real Dask cluster (several worker processes) through joblib's
Dask backend gives the same results as the same search run serially."""
import numpy as np
import pytest

from conftest import require

require("sklearn")
distributed = require("distributed")

import joblib  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import fastnn  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore::DeprecationWarning", "ignore::ResourceWarning")


def _search():
    grid = {"hidden_layer_sizes": [(4,), (16,)], "alpha": [1e-4, 1e-1], "solver": ["adam", "sgd"]}
    est = fastnn.MLPClassifier(random_state=0, max_iter=60, learning_rate_init=0.01, n_threads=1)
    return GridSearchCV(est, grid, cv=3)


def test_grid_search_on_a_local_dask_cluster_equals_the_serial_search():
    X, y = load_iris(return_X_y=True)
    serial = _search().fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        pids = set(client.run(lambda: __import__("os").getpid()).values())
        assert len(pids) == 2 and __import__("os").getpid() not in pids   # real worker processes
        with joblib.parallel_backend("dask"):
            dask_search = _search().fit(X, y)
        # every worker ran part of the search
        ran = client.run(lambda dask_worker: len(dask_worker.data) + dask_worker.state.transition_counter)
        assert all(count > 0 for count in ran.values())
    assert dask_search.best_params_ == serial.best_params_
    for key in ("mean_test_score", "std_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(dask_search.cv_results_[key], serial.cv_results_[key])
    np.testing.assert_array_equal(dask_search.predict_proba(X), serial.predict_proba(X))
