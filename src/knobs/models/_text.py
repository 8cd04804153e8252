"""Text classifiers over padded token ids: a bag of embeddings and a 1-D ConvNet.

Input: ``(n, L)`` token ids, ``0`` (``<pad>``) after each text's end — what
``knobs.data.TextPreprocessor`` produces. Both models find each text's length from its non-pad
positions, so padding never changes a prediction: the bag averages only real tokens, and the
ConvNet's max-pool only looks at real positions.

- ``TextBag``: ``nn.EmbeddingBag`` (mean over the tokens) → an MLP head. Order-blind and fast; the
  strong baseline of fastText (Joulin et al. 2017).
- ``TextCNN``: embeddings → ``depth`` same-padded Conv1d blocks → max over positions → an MLP head
  (Kim 2014): it sees n-grams of ``kernel_size`` tokens.

Why ids may arrive as floats: knobs' Trainer and checks pass every ``X`` as float32, which holds
integer ids below 2**24 exactly (``knobs.data.MAX_VOCAB``); the models cast them back.

Example:
    >>> import torch
    >>> net = TextBag((12,), 2, vocab_size=100, embed_dim=16, width=8)
    >>> net(torch.tensor([[5, 9, 3] + [0] * 9])).shape
    torch.Size([1, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from knobs.errors import ConfigError, DataError
from knobs.models._activations import check_activation, make_activation
from knobs.models._checks import check_dropout, check_int, check_shape
from knobs.models._init import SMALL_OUTPUT, check_init, init_weights
from knobs.models._mlp import MLP

__all__ = ["TextBag", "TextCNN", "TEXT_FAMILIES", "token_ids"]

PAD = 0  # knobs.data.PAD; not imported, so models stay independent of the data layer

#: The model families that take token ids (the pipeline gives them ``vocab_size`` from the data).
TEXT_FAMILIES = ("text_bag", "text_cnn")


def token_ids(x: torch.Tensor) -> torch.Tensor:
    """Token ids as int64, from int or float32/float64 tensors."""
    # NOTE: bfloat16 holds integers exactly only up to 256, float16 up to 2048: ids would change.
    if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
        raise DataError(f"token ids must be an integer or float32 tensor, got {x.dtype}, which "
                        f"cannot hold large ids exactly")
    return x.long()


class TextBag(nn.Module):
    """Mean of the token embeddings, then an MLP.

    Args:
        input_shape: ``(L,)``, the padded length.
        n_classes: number of outputs.
        vocab_size: rows of the embedding table (from the data's vocabulary).
        embed_dim: embedding size.
        width, depth, activation, batch_norm, init: the head, as in ``MLP`` (``depth=0``: a
            linear head on the mean embedding).
        dropout: on the mean embedding and after each hidden layer of the head.
    """

    def __init__(self, input_shape, n_classes: int, vocab_size: int, embed_dim: int = 64,
                 width: int = 128, depth: int = 1, activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False, init: str = "kaiming") -> None:
        super().__init__()
        check_shape(input_shape, 1, "(max_length,) token positions")
        self.hparams = {"vocab_size": check_int("vocab_size", vocab_size, 2),
                        "embed_dim": check_int("embed_dim", embed_dim, 1)}
        # NOTE: padding_idx keeps <pad> out of the mean (and its embedding at zero, untrained).
        self.embedding = nn.EmbeddingBag(vocab_size, self.hparams["embed_dim"], mode="mean", padding_idx=PAD)
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.head = MLP((self.hparams["embed_dim"],), n_classes, width=width, depth=depth,
                        activation=activation, dropout=dropout, batch_norm=batch_norm, init=init)
        self.hparams.update(self.head.hparams)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embedding(token_ids(x))))


class TextCNN(nn.Module):
    """Embeddings → Conv1d blocks → max over real positions → MLP head.

    Args:
        input_shape: ``(L,)``, the padded length.
        n_classes: number of outputs.
        vocab_size: rows of the embedding table (from the data's vocabulary).
        embed_dim: embedding size.
        channels: filters of every conv block.
        kernel_size: odd n-gram width (same padding keeps positions aligned with tokens).
        depth: conv blocks (≥ 1).
        width: hidden units of the head (0: a linear head).
        dropout: on the pooled features and after the head's hidden layer.
        activation, init: as in ``MLP``.
    """

    def __init__(self, input_shape, n_classes: int, vocab_size: int, embed_dim: int = 64,
                 channels: int = 64, kernel_size: int = 3, depth: int = 1, width: int = 0,
                 dropout: float = 0.0, activation: str = "relu", init: str = "kaiming") -> None:
        super().__init__()
        check_shape(input_shape, 1, "(max_length,) token positions")
        hp = self.hparams = {
            "vocab_size": check_int("vocab_size", vocab_size, 2), "embed_dim": check_int("embed_dim", embed_dim, 1),
            "channels": check_int("channels", channels, 1), "kernel_size": _odd(kernel_size),
            "depth": check_int("depth", depth, 1), "width": check_int("width", width, 0),
            "dropout": check_dropout(dropout), "activation": check_activation(activation), "init": init,
        }
        check_init(init)
        self.embedding = nn.Embedding(vocab_size, hp["embed_dim"], padding_idx=PAD)
        blocks, c_in = [], hp["embed_dim"]
        for _ in range(hp["depth"]):
            blocks += [nn.Conv1d(c_in, hp["channels"], hp["kernel_size"], padding=hp["kernel_size"] // 2),
                       make_activation(activation)]
            c_in = hp["channels"]
        self.convs = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(hp["dropout"])
        self.head = MLP((hp["channels"],), n_classes, width=max(1, hp["width"]), depth=int(hp["width"] > 0),
                        activation=activation, dropout=hp["dropout"], init=init)
        init_weights(self.convs, init, activation=activation)
        if check_init(init) != "default":
            # NOTE: the max over a sentence's positions of ReLU features is positive, with a mean
            # that grows with the length (the largest of L draws): a head scaled for zero-mean
            # inputs starts with logits of std ~1 and an initial loss up to 2x ln C (1.45 on SST-2),
            # confidently wrong before any step. Scaled down like a regression head, the
            # untrained model is unsure, as the initial-loss check expects ("init well").
            with torch.no_grad():
                self.head.head.weight.mul_(SMALL_OUTPUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = token_ids(x)
        real = (ids != PAD).unsqueeze(1)                      # (n, 1, L)
        h = self.convs(self.embedding(ids).transpose(1, 2))    # (n, channels, L)
        # NOTE: pad positions get -inf so the max only sees real tokens; an all-pad row gives 0.
        pooled = h.masked_fill(~real, float("-inf")).amax(dim=2)
        return self.head(self.dropout(torch.nan_to_num(pooled, neginf=0.0)))


def _odd(value) -> int:
    k = check_int("kernel_size", value, 1)
    if k % 2 == 0:
        raise ConfigError(f"kernel_size: expected an odd size (same padding), got {k}")
    return k
