"""Tested settings for MNIST-like data (28 x 28 digits scaled to [0, 1], 10 classes).

Each recipe holds keyword dicts: "network" for :class:`fastnn.Network`, "fit"
for :meth:`fastnn.Network.fit`, and optionally "finish", a second, short fit
at a lower learning rate that settles the parameters::

    net = fastnn.Network(**recipe["network"], seed=0)
    net.fit(X, labels, **recipe["fit"])
    if "finish" in recipe:
        net.fit(X, labels, **recipe["finish"])

``bench/recipe.py`` measures both on the shared digits; README quotes its figures.
"""

# SEED.md's network: sigmoid layers, quadratic loss, plain SGD.
SEED = {
    "network": dict(sizes=[784, 30, 10], activation="sigmoid", loss="quadratic", init="normal",
                    dtype="float32"),
    "fit": dict(epochs=30, batch_size=10, optimizer="sgd", learning_rate=3.0),
}

# The best recipe found so far: two relu layers of 800, softmax outputs with cross-entropy,
# momentum SGD with a little weight decay, then two epochs at a tenth of the rate.
MNIST_BEST = {
    "network": dict(sizes=[784, 800, 800, 10], activation="relu", output_activation="softmax",
                    loss="cross_entropy", init="he", dtype="float32"),
    "fit": dict(epochs=10, batch_size=64, optimizer="momentum", learning_rate=0.1, momentum=0.9, l2=1e-4),
    "finish": dict(epochs=2, batch_size=64, optimizer="momentum", learning_rate=0.01, momentum=0.9, l2=1e-4),
}


def train(recipe, X, labels, seed=None):
    """A network trained on (X, labels) by ``recipe`` (its fit, then its finish if any)."""
    from .network import Network
    net = Network(**recipe["network"], seed=seed)
    net.fit(X, labels, **recipe["fit"])
    if "finish" in recipe:
        net.fit(X, labels, **recipe["finish"])
    return net
