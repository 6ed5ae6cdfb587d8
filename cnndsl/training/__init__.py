"""Stage 5: train and evaluate networks (``cnndsl train``, ``eval`` and ``predict`` are in
:mod:`cnndsl.cli.train`).

The core takes a model, not a file: :func:`fit` trains ``build`` (an ``nn.Module`` or a
picklable function returning one) with a resolved train config, writing a run folder::

    config.json   the resolved configuration
    metrics.jsonl one line per epoch (train and validation figures)
    metrics.json  the test split's figures of best.pt (evaluated once, at the end)
    curves.png    loss, accuracy and learning rate per epoch, the best epoch marked
    confusion.png, confusion_normalized.png  best.pt's confusion matrix (val, then test)
    last.pt       written atomically after every epoch;  best.pt  the best val accuracy

:func:`train_one_epoch` and :func:`evaluate` are the loop's two halves (as in torchvision's
reference script); :func:`train` adds ``nproc > 1`` (DistributedDataParallel through
``torch.distributed`` elastic launch).

Modules: :mod:`.run` (options, network facts), :mod:`.config`, :mod:`.optim`,
:mod:`.batches` (augmentation, batching), :mod:`.loop`, :mod:`.state` (checkpoints),
:mod:`.trainer`, :mod:`.report` (progress, plots), :mod:`.launch` (entry points),
:mod:`.data` (data sets).

Design notes: a data set that fits (``Options.max_resident_bytes``) lives on the device as
tensors and is batched by indexing a per-epoch permutation; larger ones go through a
``DataLoader``. The permutation of epoch ``e`` comes from a generator seeded by ``(seed, e)``,
so every rank draws the same one and takes its shard, and resuming needs no sampler state.
Losses and accuracy accumulate on the device; the host reads them every ``CHECK_EVERY`` steps
(the NaN check), for the progress bar at most every ``report.REFRESH_S`` seconds, and at the
end of an epoch. Metrics come from ``sklearn.metrics`` on the gathered labels and scores.
Rank 0 draws each epoch's plots (``report.Plots``: kept figures redrawn, files written
atomically). Where a core is free for it (training on a GPU, or fewer training threads than
CPUs: ``report.plots_beside``), a forked plot process draws them beside training, in Linux's
idle scheduling class, never more than one epoch behind (the trainer waits for the previous
epoch's drawing, lifting the process to normal priority meanwhile); else the trainer draws
them between epochs, outside its training loop. The run waits for the last drawing.

>>> LrFactor("cosine", total=10, warmup=2)(0), LrFactor("cosine", total=10, warmup=2)(2)
(0.5, 1.0)
"""

from __future__ import annotations

from .batches import Augment, Context, transform
from .config import parse_data_spec, resolve_config
from .launch import fit, load_model, train
from .loop import evaluate, train_one_epoch
from .optim import LrFactor, build_optimizer, build_scheduler, output_loss
from .run import Diverged, NetInfo, Options, pick_device
from .state import load_checkpoint, save_checkpoint

__all__ = [
    "Augment",
    "Context",
    "Diverged",
    "LrFactor",
    "NetInfo",
    "Options",
    "build_optimizer",
    "build_scheduler",
    "evaluate",
    "fit",
    "load_checkpoint",
    "load_model",
    "output_loss",
    "parse_data_spec",
    "pick_device",
    "resolve_config",
    "save_checkpoint",
    "train",
    "train_one_epoch",
    "transform",
]
