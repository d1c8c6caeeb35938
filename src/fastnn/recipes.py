"""Tested settings for MNIST-like data (28 x 28 digits scaled to [0, 1], 10 classes).

Each recipe is a pair of keyword dicts, one for :class:`fastnn.Network` and one
for :meth:`fastnn.Network.fit`::

    net = fastnn.Network(**recipe["network"], seed=0)
    net.fit(X, labels, **recipe["fit"])

``bench/recipe.py`` measures both on the shared digits; README quotes its figures.
"""

# SEED.md's network: sigmoid layers, quadratic loss, plain SGD.
SEED = {
    "network": dict(sizes=[784, 30, 10], activation="sigmoid", loss="quadratic", init="normal",
                    dtype="float32"),
    "fit": dict(epochs=30, batch_size=10, optimizer="sgd", learning_rate=3.0),
}

# The best recipe found so far: two relu layers of 600, softmax outputs with cross-entropy,
# momentum SGD with a little weight decay.
MNIST_BEST = {
    "network": dict(sizes=[784, 600, 600, 10], activation="relu", output_activation="softmax",
                    loss="cross_entropy", init="he", dtype="float32"),
    "fit": dict(epochs=12, batch_size=32, optimizer="momentum", learning_rate=0.05, momentum=0.9,
                l2=1e-4),
}
