"""Real-training problems for bench/search.py: cheap trainings the Bayes defaults were never tuned on.

Why: the synthetic and scikit-learn problems in bench/problems.py are the set knobs.Bayes was tuned
on (issue 3), so a lead there proves little (issue 17). These families train real models on real
data, each in its own kind of space:

- ``mlp``      torch MLPs in LCBench's 7-D space (lr, batch, momentum, weight decay, dropout,
               units, layers) on digits and Fashion-MNIST subsets, few epochs and little data so
               that configurations really differ (LCBench at full size is "too easy at budget 40").
- ``convnet``  small ConvNets with integer axes (channels, depth, kernel) plus lr / batch / decay,
               on digits 8x8 and Fashion-MNIST subsets (14x14, 2x2-averaged).
- ``tables``   scikit-learn models on bundled tables in categorical and CONDITIONAL spaces
               (``when=``): kernel-dependent SVC, a model choice, solver-dependent MLPClassifier.
- ``text``     an SST-2 subset (``/work/shared/data/sst2/train.tsv``): hashed / TF-IDF bags of
               words with a linear model (categorical + conditional) and a torch EmbeddingBag
               classifier (smooth + categorical).

Every objective is the error on held-out VALIDATION rows (never a test file: Fashion-MNIST's t10k
and SST-2's dev/test are not read), minimized. Each evaluation is deterministic given the config:
the data subset, the split, the weight initialization and the batch order come from fixed seeds
(one per problem), and torch runs on one thread. Data sets and feature matrices are loaded once
per process (``lru_cache``); nothing that depends on the config is cached.

Each evaluation costs about 0.03-0.3 s on one core (see ``python bench/problems_real.py``, which
times every problem on a few random configurations).
"""

from __future__ import annotations

import gzip
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from problems import P, Problem

__all__ = ["REAL_PROBLEMS", "FASHION_DIR", "SST2_TRAIN"]

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
SST2_TRAIN = Path("/work/shared/data/sst2/train.tsv")


# -- data (loaded once per process; splits fixed by seed) --------------------------------------

def _split(n: int, n_train: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(seed).permutation(n)
    return idx[:n_train], idx[n_train:n_train + n_val]


@lru_cache(maxsize=None)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


@lru_cache(maxsize=None)
def _fashion_train() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's TRAIN file only (60k), as the Debian package stores it (IDX, gzip)."""
    with gzip.open(FASHION_DIR / "train-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION_DIR / "train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    return X, y.astype(np.int64)


@lru_cache(maxsize=None)
def image_data(name: str, n_train: int, n_val: int, seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_val, y_val) as float32 images (N, 1, H, W) in [0, 1]."""
    if name == "digits":
        X, y = _digits()
        X = X.reshape(-1, 1, 8, 8)
    elif name == "fashion14":
        X28, y = _fashion_train()
        tr, va = _split(len(y), n_train, n_val, seed)
        keep = np.concatenate([tr, va])
        # NOTE: 2x2 average pooling to 14x14 makes an epoch 4x cheaper; classes stay separable.
        X = X28[keep].reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).astype(np.float32) / 255.0
        X, y = X.reshape(-1, 1, 14, 14), y[keep]
        return X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    else:
        raise ValueError(f"unknown image data {name!r}")
    tr, va = _split(len(y), n_train, n_val, seed)
    return X[tr], y[tr], X[va], y[va]


# -- torch training (shared by mlp, convnet, text) ---------------------------------------------

def _torch():
    import torch

    torch.set_num_threads(1)
    return torch


def _train_classifier(model, X, y, Xv, yv, *, lr: float, batch_size: int, epochs: int,
                      momentum: float = 0.9, weight_decay: float = 0.0, optimizer: str = "sgd",
                      seed: int = 0) -> float:
    """Fixed-epoch training, then the validation error rate. A diverged run scores its
    (chance-level) error, as a real study would see it: finite, just bad."""
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    n = len(y)
    loss_fn = torch.nn.functional.cross_entropy
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss = loss_fn(model(X[idx]), y[idx])
            if not torch.isfinite(loss):
                return float(1.0 - (yv == torch.mode(yv).values).float().mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(Xv)
        if not torch.isfinite(logits).all():
            return float(1.0 - (yv == torch.mode(yv).values).float().mean())
        return float((logits.argmax(1) != yv).float().mean())


def mlp_objective(data: str, n_train: int, n_val: int, epochs: int, seed: int) -> Callable[[dict], float]:
    """LCBench's MLP (SGD + momentum, constant width, dropout after each hidden layer)."""
    def objective(c: dict) -> float:
        torch = _torch()
        X, y, Xv, yv = (torch.from_numpy(a) for a in image_data(data, n_train, n_val, seed))
        X, Xv = X.flatten(1), Xv.flatten(1)
        torch.manual_seed(seed)
        layers: list = []
        width = X.shape[1]
        for _ in range(c["layers"]):
            layers += [torch.nn.Linear(width, c["units"]), torch.nn.ReLU(), torch.nn.Dropout(c["dropout"])]
            width = c["units"]
        model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
        return _train_classifier(model, X, y, Xv, yv, lr=c["lr"], batch_size=c["batch_size"],
                                 epochs=epochs, momentum=c["momentum"], weight_decay=c["weight_decay"],
                                 seed=seed)
    return objective


def convnet_objective(data: str, n_train: int, n_val: int, epochs: int, seed: int) -> Callable[[dict], float]:
    """Conv(k, 'same') -> BatchNorm -> ReLU -> MaxPool(2) per block, global average pool, linear head; SGD 0.9."""
    def objective(c: dict) -> float:
        torch = _torch()
        X, y, Xv, yv = (torch.from_numpy(a) for a in image_data(data, n_train, n_val, seed))
        torch.manual_seed(seed)
        blocks: list = []
        channels, size = 1, X.shape[-1]
        for _ in range(c["depth"]):
            blocks += [torch.nn.Conv2d(channels, c["channels"], c["kernel"], padding="same"),
                       torch.nn.BatchNorm2d(c["channels"]), torch.nn.ReLU()]
            if size >= 2:
                blocks.append(torch.nn.MaxPool2d(2))
                size //= 2
            channels = c["channels"]
        model = torch.nn.Sequential(*blocks, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                    torch.nn.Linear(channels, 10))
        with warnings.catch_warnings():
            # NOTE: even kernels with padding="same" pad asymmetrically; PyTorch warns once about a copy.
            warnings.filterwarnings("ignore", message="Using padding='same'")
            return _train_classifier(model, X, y, Xv, yv, lr=c["lr"], batch_size=c["batch_size"],
                                     epochs=epochs, weight_decay=c["weight_decay"], seed=seed)
    return objective


# -- scikit-learn tables in conditional spaces --------------------------------------------------

@lru_cache(maxsize=None)
def table_data(name: str, n_train: int, n_val: int, seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_val, y_val), stratified, standardized with TRAIN statistics. Few
    training rows make the models differ; many validation rows make the error rate fine-grained."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loader = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer}[name]
    X, y = loader(return_X_y=True)
    X, Xv, y, yv = train_test_split(X, y, train_size=n_train, test_size=n_val, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X)
    return scaler.transform(X), y, scaler.transform(Xv), yv


def _holdout_error(model, data: tuple[np.ndarray, ...]) -> float:
    X, y, Xv, yv = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
        return float(np.mean(model.predict(Xv) != yv))


def svc_kernel_objective(data: str, n_train: int, n_val: int, seed: int) -> Callable[[dict], float]:
    def objective(c: dict) -> float:
        from sklearn.svm import SVC
        kwargs: dict[str, Any] = {"C": c["C"], "kernel": c["kernel"]}
        if c["kernel"] != "linear":
            kwargs["gamma"] = c["gamma"]
        if c["kernel"] == "poly":
            kwargs["degree"] = c["degree"]
        if c["kernel"] in ("poly", "sigmoid"):
            kwargs["coef0"] = c["coef0"]
        return _holdout_error(SVC(max_iter=20_000, **kwargs), table_data(data, n_train, n_val, seed))
    return objective


def model_choice_objective(data: str, n_train: int, n_val: int, seed: int) -> Callable[[dict], float]:
    def objective(c: dict) -> float:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.svm import SVC

        m = c["model"]
        if m == "hgb":
            model = HistGradientBoostingClassifier(learning_rate=c["hgb_lr"], max_leaf_nodes=c["hgb_leaves"],
                                                   max_iter=15, min_samples_leaf=c["hgb_min_leaf"],
                                                   early_stopping=False, random_state=seed)
        elif m == "svc":
            model = SVC(C=c["svc_C"], gamma=c["svc_gamma"])
        elif m == "knn":
            model = KNeighborsClassifier(n_neighbors=c["knn_k"], weights=c["knn_weights"])
        else:
            model = LogisticRegression(C=c["logreg_C"], max_iter=300)
        return _holdout_error(model, table_data(data, n_train, n_val, seed))
    return objective


def mlp_solver_objective(data: str, n_train: int, n_val: int, seed: int) -> Callable[[dict], float]:
    def objective(c: dict) -> float:
        from sklearn.neural_network import MLPClassifier
        kwargs: dict[str, Any] = {}
        if c["solver"] == "sgd":
            kwargs = {"momentum": c["momentum"], "nesterovs_momentum": c["nesterov"] == "yes"}
        else:
            kwargs = {"beta_1": c["beta_1"]}
        model = MLPClassifier((c["width"],) * c["depth"], solver=c["solver"], alpha=c["alpha"],
                              learning_rate_init=c["lr"], batch_size=32, max_iter=15,
                              random_state=seed, **kwargs)
        return _holdout_error(model, table_data(data, n_train, n_val, seed))
    return objective


# -- SST-2 subset -------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def sst2_rows(n_train: int, n_val: int, seed: int) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """Rows from SST-2's TRAIN file only (its dev/test files stay unread), split by seed."""
    import csv

    with open(SST2_TRAIN, newline="", encoding="utf-8") as f:
        rows = [(r["sentence"], int(r["label"])) for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    # NOTE: SST-2's train file is mostly short phrases; whole-ish sentences (>= 6 words) make a
    # task where the representation matters.
    rows = [r for r in rows if len(r[0].split()) >= 6]
    tr, va = _split(len(rows), n_train, n_val, seed)
    return ([rows[i][0] for i in tr], np.array([rows[i][1] for i in tr]),
            [rows[i][0] for i in va], np.array([rows[i][1] for i in va]))


@lru_cache(maxsize=None)
def _sst2_features(n_train: int, n_val: int, seed: int, features: str, ngram_max: int):
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    texts, y, vtexts, yv = sst2_rows(n_train, n_val, seed)
    hasher = HashingVectorizer(n_features=2**16, ngram_range=(1, ngram_max), alternate_sign=False,
                               norm=None, binary=features == "binary")
    X, Xv = hasher.transform(texts), hasher.transform(vtexts)
    if features == "tfidf":
        tfidf = TfidfTransformer(sublinear_tf=True).fit(X)
        X, Xv = tfidf.transform(X), tfidf.transform(Xv)
    else:
        from sklearn.preprocessing import normalize
        X, Xv = normalize(X), normalize(Xv)
    return X, y, Xv, yv


def text_linear_objective(n_train: int, n_val: int, seed: int) -> Callable[[dict], float]:
    def objective(c: dict) -> float:
        from sklearn.linear_model import SGDClassifier

        data = _sst2_features(n_train, n_val, seed, c["features"], c["ngram_max"])
        model = SGDClassifier(loss=c["loss"], alpha=c["alpha"], penalty=c["penalty"],
                              l1_ratio=c.get("l1_ratio", 0.15), max_iter=30, tol=None,
                              learning_rate="optimal", random_state=seed)
        return _holdout_error(model, data)
    return objective


_TOKEN_BUCKETS = 2**12


_MAX_TOKENS = 96


@lru_cache(maxsize=None)
def _sst2_token_ids(n_train: int, n_val: int, seed: int, ngram_max: int):
    """Hashed unigram (+ bigram) ids per sentence, padded with id 0 to one length, as int64
    tensors (EmbeddingBag's ``padding_idx=0`` leaves the padding out of the mean)."""
    import zlib

    torch = _torch()
    texts, y, vtexts, yv = sst2_rows(n_train, n_val, seed)

    def ids(texts: list[str]):
        out = np.zeros((len(texts), _MAX_TOKENS), dtype=np.int64)
        for row, text in enumerate(texts):
            words = text.lower().split()
            grams = words + ([f"{a} {b}" for a, b in zip(words, words[1:])] if ngram_max > 1 else [])
            hashed = [1 + zlib.crc32(g.encode()) % (_TOKEN_BUCKETS - 1) for g in grams][:_MAX_TOKENS]
            out[row, :len(hashed)] = hashed
        return torch.from_numpy(out)

    return ids(texts), torch.from_numpy(y), ids(vtexts), torch.from_numpy(yv)


def text_embag_objective(n_train: int, n_val: int, epochs: int, seed: int) -> Callable[[dict], float]:
    """fastText-like: mean of hashed n-gram embeddings -> dropout -> hidden ReLU -> 2 classes."""
    def objective(c: dict) -> float:
        torch = _torch()
        X, y, Xv, yv = _sst2_token_ids(n_train, n_val, seed, c["ngram_max"])
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.EmbeddingBag(_TOKEN_BUCKETS, c["dim"], mode="mean", padding_idx=0),
            torch.nn.Dropout(c["dropout"]), torch.nn.Linear(c["dim"], c["hidden"]), torch.nn.ReLU(),
            torch.nn.Linear(c["hidden"], 2))
        lr = c["adam_lr"] if c["optimizer"] == "adam" else c["sgd_lr"]
        return _train_classifier(model, X, y, Xv, yv, lr=lr, batch_size=c["batch_size"],
                                 epochs=epochs, momentum=c.get("momentum", 0.0),
                                 weight_decay=c["weight_decay"], optimizer=c["optimizer"], seed=seed)
    return objective


# -- the spaces ---------------------------------------------------------------------------------

# LCBench's 7-D space (Zimmer et al. 2021), scaled to what one core trains in a fraction of a second.
LCBENCH = {"lr": P("float", 1e-4, 1e-1, log=True), "batch_size": P("int", 16, 256, log=True),
           "momentum": P("float", 0.1, 0.99), "weight_decay": P("float", 1e-5, 1e-1, log=True),
           "dropout": P("float", 0.0, 0.8), "units": P("int", 16, 256, log=True),
           "layers": P("int", 1, 4)}

CONVNET = {"channels": P("int", 4, 16, log=True), "depth": P("int", 1, 3), "kernel": P("int", 1, 5),
           "lr": P("float", 1e-3, 0.5, log=True), "batch_size": P("int", 8, 128, log=True),
           "weight_decay": P("float", 1e-6, 1e-1, log=True)}

SVC_KERNEL = {"kernel": P("choice", options=("linear", "rbf", "poly", "sigmoid")),
              "C": P("float", 1e-3, 1e3, log=True),
              "gamma": P("float", 1e-5, 1e1, log=True, when={"kernel": ["rbf", "poly", "sigmoid"]}),
              "degree": P("int", 2, 5, when={"kernel": "poly"}),
              "coef0": P("float", -1.0, 1.0, when={"kernel": ["poly", "sigmoid"]})}

MODEL_CHOICE = {"model": P("choice", options=("hgb", "svc", "knn", "logreg")),
                "hgb_lr": P("float", 1e-3, 1.0, log=True, when={"model": "hgb"}),
                "hgb_leaves": P("int", 2, 64, log=True, when={"model": "hgb"}),
                "hgb_min_leaf": P("int", 1, 50, log=True, when={"model": "hgb"}),
                "svc_C": P("float", 1e-3, 1e3, log=True, when={"model": "svc"}),
                "svc_gamma": P("float", 1e-5, 1e1, log=True, when={"model": "svc"}),
                "knn_k": P("int", 1, 50, log=True, when={"model": "knn"}),
                "knn_weights": P("choice", options=("uniform", "distance"), when={"model": "knn"}),
                "logreg_C": P("float", 1e-4, 1e3, log=True, when={"model": "logreg"})}

MLP_SOLVER = {"solver": P("choice", options=("sgd", "adam")),
              "momentum": P("float", 0.0, 0.99, when={"solver": "sgd"}),
              "nesterov": P("choice", options=("yes", "no"), when={"solver": "sgd"}),
              "beta_1": P("float", 0.5, 0.99, when={"solver": "adam"}),
              "lr": P("float", 1e-4, 1.0, log=True), "alpha": P("float", 1e-6, 1.0, log=True),
              "width": P("int", 4, 128, log=True), "depth": P("int", 1, 3)}

TEXT_LINEAR = {"features": P("choice", options=("tfidf", "binary", "counts")),
               "ngram_max": P("int", 1, 3),
               "loss": P("choice", options=("log_loss", "hinge", "modified_huber")),
               "penalty": P("choice", options=("l2", "l1", "elasticnet")),
               "alpha": P("float", 1e-7, 1e-1, log=True),
               "l1_ratio": P("float", 0.0, 1.0, when={"penalty": "elasticnet"})}

# NOTE: each optimizer gets its own lr range (a text model's embeddings need SGD steps ~100x Adam's).
TEXT_EMBAG = {"optimizer": P("choice", options=("adam", "sgd")),
              "adam_lr": P("float", 1e-4, 1e-1, log=True, when={"optimizer": "adam"}),
              "sgd_lr": P("float", 1e-2, 1e1, log=True, when={"optimizer": "sgd"}),
              "momentum": P("float", 0.0, 0.99, when={"optimizer": "sgd"}),
              "weight_decay": P("float", 1e-8, 1e-3, log=True),
              "dim": P("int", 8, 64, log=True), "hidden": P("int", 8, 128, log=True),
              "dropout": P("float", 0.0, 0.7), "batch_size": P("int", 32, 256, log=True),
              "ngram_max": P("int", 1, 2)}


def _p(name, params, objective, family, split, note) -> Problem:
    return Problem(name, params, objective, family, note, split=split)


REAL_PROBLEMS: dict[str, Problem] = {p.name: p for p in [
    # mlp
    _p("lcbench_digits", LCBENCH, mlp_objective("digits", 300, 500, 10, 11), "mlp", "dev",
       "torch MLP, LCBench 7-D, digits 8x8, 300 train / 500 val rows, 10 epochs"),
    _p("lcbench_fashion", LCBENCH, mlp_objective("fashion14", 600, 600, 6, 12), "mlp", "dev",
       "torch MLP, LCBench 7-D, Fashion-MNIST 14x14, 600 train / 600 val rows, 6 epochs"),
    _p("lcbench_fashion_b", LCBENCH, mlp_objective("fashion14", 400, 600, 8, 13), "mlp", "check",
       "torch MLP, LCBench 7-D, another Fashion-MNIST 14x14 subset, 400 / 600 rows, 8 epochs"),
    _p("lcbench_digits_b", LCBENCH, mlp_objective("digits", 500, 500, 6, 14), "mlp", "check",
       "torch MLP, LCBench 7-D, another digits split, 500 / 500 rows, 6 epochs"),
    # convnet
    _p("convnet_digits", CONVNET, convnet_objective("digits", 400, 500, 4, 21), "convnet", "dev",
       "torch ConvNet, integer channels/depth/kernel, digits 8x8, 400 / 500 rows, 4 epochs"),
    _p("convnet_fashion", CONVNET, convnet_objective("fashion14", 400, 500, 3, 22), "convnet", "dev",
       "torch ConvNet, Fashion-MNIST 14x14, 400 / 500 rows, 3 epochs"),
    _p("convnet_fashion_b", CONVNET, convnet_objective("fashion14", 500, 500, 3, 23), "convnet", "check",
       "torch ConvNet, another Fashion-MNIST 14x14 subset, 500 / 500 rows, 3 epochs"),
    _p("convnet_digits_b", CONVNET, convnet_objective("digits", 300, 500, 5, 24), "convnet", "check",
       "torch ConvNet, another digits split, 300 / 500 rows, 5 epochs"),
    # tables (conditional)
    _p("svc_kernel_digits", SVC_KERNEL, svc_kernel_objective("digits", 300, 1000, 31), "tables", "dev",
       "SVC with kernel-dependent gamma/degree/coef0, digits, 300 train / 1000 val rows"),
    _p("model_choice_digits", MODEL_CHOICE, model_choice_objective("digits", 400, 1000, 32), "tables", "dev",
       "HGB / SVC / kNN / logistic regression, each with its own parameters, digits, 400 / 1000 rows"),
    _p("mlp_solver_cancer", MLP_SOLVER, mlp_solver_objective("breast_cancer", 200, 369, 33), "tables", "dev",
       "MLPClassifier, momentum/Nesterov for sgd, beta_1 for adam, breast cancer, 200 / 369 rows"),
    _p("svc_kernel_cancer", SVC_KERNEL, svc_kernel_objective("breast_cancer", 200, 369, 34), "tables", "check",
       "SVC with kernel-dependent parameters, breast cancer, 200 / 369 rows"),
    _p("model_choice_cancer", MODEL_CHOICE, model_choice_objective("breast_cancer", 200, 369, 35), "tables",
       "check", "HGB / SVC / kNN / logistic regression, breast cancer, 200 / 369 rows"),
    _p("mlp_solver_digits", MLP_SOLVER, mlp_solver_objective("digits", 400, 1000, 36), "tables", "check",
       "MLPClassifier, solver-dependent parameters, digits, 400 / 1000 rows"),
    # text
    _p("sst2_linear", TEXT_LINEAR, text_linear_objective(3000, 1000, 41), "text", "dev",
       "SST-2 3k/1k rows, hashed counts / binary / TF-IDF, SGD linear model, elastic-net l1_ratio conditional"),
    _p("sst2_embag", TEXT_EMBAG, text_embag_objective(2000, 1000, 4, 42), "text", "dev",
       "SST-2 2k/1k rows, EmbeddingBag over hashed n-grams + MLP head, adam / sgd(+momentum), 4 epochs"),
    _p("sst2_linear_b", TEXT_LINEAR, text_linear_objective(2000, 1000, 43), "text", "check",
       "SST-2, other 2k/1k rows, linear model"),
    _p("sst2_embag_b", TEXT_EMBAG, text_embag_objective(2000, 1000, 3, 44), "text", "check",
       "SST-2, other 2k/1k rows, EmbeddingBag, 3 epochs"),
]}


def _time_problems(names: list[str], configs: int = 6) -> None:
    """Median and max CPU seconds per evaluation on random configs, and the spread of values."""
    import time

    warnings.filterwarnings("ignore")
    for name in names:
        problem = REAL_PROBLEMS[name]
        cs = problem.space().sample(np.random.default_rng(0), configs)
        seconds, values = [], []
        for c in cs:
            t0 = time.process_time()
            values.append(problem.objective(c))
            seconds.append(time.process_time() - t0)
        print(f"{name:22s} median {np.median(seconds):6.3f} s  max {max(seconds):6.3f} s  "
              f"values {np.round(sorted(values), 3)}", flush=True)


if __name__ == "__main__":
    import sys

    _time_problems(sys.argv[1:] or list(REAL_PROBLEMS))
