"""python -m fastnn: the demo, or the train / evaluate / predict commands.

With no command it trains the seed network [784, 30, 10] on built-in generated
seven-segment digits (no download; ``--mnist DIR`` uses MNIST IDX files from DIR
instead) and reports held-out accuracy.

    python -m fastnn train --data PATH [--val PATH] --sizes 784,100,10 --save model.fastnn [--plot curves.png]
    python -m fastnn evaluate --model model.fastnn --data PATH
    python -m fastnn predict --model model.fastnn --data PATH --out predictions.csv

PATH is an MNIST IDX directory or *-images-idx3-ubyte[.gz] file, a .npz
(arrays X and y) or a .csv (label column named "label" or --label, else the last).
"""
import argparse
import sys
from typing import Optional, Sequence

from . import cli
from .data import load_mnist, make_digits
from .network import Network


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", metavar="DIR", help="directory of MNIST IDX files (*-images-idx3-ubyte[.gz])")
    # (checked as they are parsed, as the commands' options are: before any data is made or read)
    parser.add_argument("--epochs", type=cli._integer(0), default=10, help="epochs to train (default 10)")
    parser.add_argument("--batch-size", type=cli._integer(1), default=10, help="mini-batch size (default 10)")
    parser.add_argument("--learning-rate", type=cli._number(0, above=True), default=3.0, help="eta (default 3.0)")
    parser.add_argument("--hidden", type=cli._integer(1), default=30, help="hidden units (default 30)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--seed", type=cli._integer(0), default=0)
    cli.add_commands(parser)
    args = parser.parse_args(argv)
    if args.command is not None:
        return cli.run(args)

    try:
        if args.mnist:
            X, labels = load_mnist(args.mnist)
            held_out = max(1, len(X) // 6)
            source = f"MNIST digits from {args.mnist}"
        else:
            X, labels = make_digits(12000, seed=args.seed)
            held_out = 2000
            source = "built-in generated seven-segment digits"
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    X_train, y_train = X[:-held_out], labels[:-held_out]
    X_test, y_test = X[-held_out:], labels[-held_out:]
    sizes = [X.shape[1], args.hidden, int(labels.max()) + 1]
    print(f"fastnn: training {sizes} ({args.dtype}) on {len(X_train)} {source}; "
          f"{held_out} held out")
    try:
        net = Network(sizes, dtype=args.dtype, seed=args.seed)
        net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                learning_rate=args.learning_rate, validation_data=(X_test, y_test), verbose=True)
    except (ValueError, TypeError, FloatingPointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    acc = net.accuracy(X_test, y_test)
    print(f"held-out accuracy: {acc:.4f} ({int(round(acc * held_out))}/{held_out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
