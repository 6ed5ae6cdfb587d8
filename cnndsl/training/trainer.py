"""A run: the Trainer that owns the model, the data and the run folder."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CnnError
from ..fileutil import write_atomic
from .batches import Augment, Context, LoaderBatches, ResidentBatches
from .data import Data, Split, load_data
from .loop import TOP_K, evaluate, train_one_epoch
from .optim import build_optimizer, build_scheduler
from .report import Job, Plots, Reporter, plots_beside
from .run import Build, Diverged, NetInfo, Options, pick_device
from .state import (
    check_fits,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)

# ---------------------------------------------------------------- a run
RUN_MARKER = ".cnndsl-run"  # marks a folder whose files cnndsl train wrote


class Trainer:
    """One rank's training run: set up in ``__init__``, then :meth:`run`."""

    def __init__(
        self,
        build: Build,
        info: NetInfo,
        cfg: dict[str, Any],
        run_dir: Path,
        opts: Options,
        rank: int = 0,
        world: int = 1,
        device: torch.device | None = None,
    ):
        self.info, self.cfg, self.run_dir, self.opts = info, cfg, Path(run_dir), opts
        self.rank, self.world = rank, world
        self.device = device or pick_device(opts.device)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"epoch": 0, "val_accuracy": None}
        self.epoch = 0
        seed_everything(cfg["seed"])
        self.data = load_data(
            cfg["data"],
            info.input_shape,
            cfg["seed"],
            opts.max_resident_bytes,
            val=cfg.get("val", 0.0),
        )
        self._check_classes(self.data)
        self.raw = self._model(build)
        self.ctx = self._context()
        self.batches = self._batches(self.data.train)
        self.val = self._eval_split(self.data.val) if self.data.val is not None else None
        self.test = self._eval_split(self.data.test)
        self.criterion = nn.CrossEntropyLoss(
            label_smoothing=cfg["loss"].get("label_smoothing", 0.0)
        )
        self.optimizer = build_optimizer(self.raw.parameters(), cfg["optimizer"])
        self.scheduler = build_scheduler(
            self.optimizer, cfg["schedule"], cfg["epochs"], len(self.batches)
        )
        if opts.resume:
            self._restore(load_checkpoint(self.run_dir / "last.pt"))
        self.model = self._wrap(self.raw)
        self.reporter = Reporter(rank == 0 and opts.verbose, opts.progress, cfg["epochs"])
        beside = opts.plot_process
        if beside is None:
            beside = plots_beside(self.device.type, torch.get_num_threads() * self.world)
        self.plots = Plots(background=beside)
        self.confusion_plotted = -1

    # -- set-up helpers
    def _check_classes(self, data: Data) -> None:
        if len(data.classes) > self.info.num_outputs:
            raise CnnError(
                f"{data.name} has {len(data.classes)} classes but {self.info.name} "
                f"has {self.info.num_outputs} outputs",
                hint=f"give the last layer {len(data.classes)} outputs "
                f"(e.g. -p num_classes={len(data.classes)})",
            )

    def _model(self, build: Build) -> nn.Module:
        model = build if isinstance(build, nn.Module) else build()
        model = model.to(self.device)
        if self.opts.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return model

    def _context(self) -> Context:
        amp = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.opts.amp]
        scaler = torch.amp.GradScaler(self.device.type) if amp == torch.float16 else None
        augment = self.cfg["augment"]
        for spec in augment:
            if spec["name"] != "normalize" and len(self.info.input_shape) != 3:
                raise CnnError(
                    f"augment {spec['name']} needs image input (channels x height x width)"
                )
        norm = [
            (s.get("mean", 0.5), s.get("std", 0.5)) for s in augment if s["name"] == "normalize"
        ]
        return Context(
            self.device,
            amp,
            scaler,
            Augment(
                augment,
                self.device,
                self.cfg["seed"] + 7919 * self.rank,
                tuple(self.info.input_shape[1:]),
                self.info.num_outputs,
            ),
            norm[-1] if norm else None,
            self.opts.channels_last,
            tuple(w for _, w in self.info.side_weights),
            self.rank,
            self.world,
        )

    def _resident(self, split: Any) -> bool:
        if not isinstance(split, Split):
            return False
        held = (self.data.test, self.data.val)
        size = split.nbytes + sum(h.nbytes for h in held if isinstance(h, Split))
        return size <= self.opts.max_resident_bytes

    def _batches(self, split: Any) -> ResidentBatches | LoaderBatches:
        batch = math.ceil(self.cfg["batch"] / self.world)  # the config's batch is global
        seed = self.cfg["seed"]
        if self._resident(split):
            return ResidentBatches(
                split, self.device, batch, seed, self.rank, self.world, self.opts.channels_last
            )
        return LoaderBatches(
            split, self.device, batch, seed, self.rank, self.world, self.opts.workers
        )

    def _eval_split(self, split: Any) -> Any:
        if self._resident(split):
            return Split(split.x.to(self.device), split.y.to(self.device))
        return split

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids)
        if self.opts.compile:
            model = torch.compile(model)  # type: ignore[assignment]
        return model

    def _restore(self, ckpt: dict[str, Any]) -> None:
        check_fits(ckpt, self.raw, self.run_dir / "last.pt", f"{self.info.name}")
        self.raw.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.ctx.scaler is not None and ckpt.get("scaler"):
            self.ctx.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.history, self.best = ckpt["epoch"], ckpt["history"], ckpt["best"]
        self.best.setdefault("val_accuracy", None)
        states = ckpt["rng"]
        set_rng_state(
            states[self.rank] if len(states) == self.world else states[0], self.ctx.augment
        )

    # -- running
    def run(self) -> dict[str, Any]:
        """Train the remaining epochs (up to ``stop_after``); returns the final metrics."""
        last = self.cfg["epochs"]
        if self.opts.stop_after is not None:
            last = min(last, self.epoch + self.opts.stop_after)
        self._start_files()
        if self.rank == 0 and self.epoch < last:
            self.plots.start()
        try:
            return self._run(last)
        finally:
            self.reporter.close()
            self.plots.close(errors=False)  # after an error; _finish closed it otherwise

    def _run(self, last: int) -> dict[str, Any]:
        try:
            with self._quiet_scheduler_warning():
                while self.epoch < last:
                    self._one_epoch(self.epoch + 1)
        except KeyboardInterrupt:
            self._save("interrupted.pt", gather=False)
            self._finish(test=False)
            if self.rank == 0 and self.opts.verbose:
                self.reporter.close()
                print(
                    f"interrupted in epoch {self.epoch + 1}: weights saved in "
                    f"{self.run_dir / 'interrupted.pt'}; --resume {self.run_dir} continues "
                    f"exactly from the end of epoch {self.epoch}",
                    file=sys.stderr,
                )
            raise
        except Diverged:
            self._finish(test=False)
            raise
        return self._finish(test=self.epoch >= self.cfg["epochs"])

    def _one_epoch(self, epoch: int) -> None:
        self.batches.epoch = epoch
        self.reporter.epoch_start(epoch, len(self.batches))
        stats = train_one_epoch(
            self.model,
            self.criterion,
            self.optimizer,
            self.scheduler,
            self.batches,
            self.ctx,
            partial(self._check, epoch),
            self.reporter.step if self.reporter.fancy else None,
        )
        record: dict[str, Any] = {
            "epoch": epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
            **stats,
        }
        val = None
        if self.val is not None:
            val = self._evaluate(self.val, "val")
            record.update({f"val_{k}": v for k, v in val.items() if not k.startswith("confusion")})
        self.epoch = epoch
        self.history.append(record)
        # best.pt: the best validation top-1 accuracy, the earlier epoch on ties; without a
        # validation split, the last epoch
        improved = val is None or (
            self.best["val_accuracy"] is None or val["accuracy"] > self.best["val_accuracy"]
        )
        if improved:
            self.best = {
                "epoch": epoch,
                "val_accuracy": val["accuracy"] if val else None,
                "val_confusion": val["confusion"] if val else None,
            }
        self._save("last.pt", "best.pt" if improved else None)
        self.reporter.epoch_end(record)
        if self.rank == 0:
            with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            self._plot()

    def _evaluate(self, split: Any, label: str) -> dict[str, Any]:
        from .loop import eval_batch_count

        eval_model = self.raw if self.world > 1 else self.model
        self.reporter.eval_start(label, eval_batch_count(split, self.rank, self.world))
        try:
            return evaluate(
                eval_model,
                split,
                self.ctx,
                self.data.classes,
                self.info.num_outputs,
                self.reporter.eval_step,
            )
        finally:
            self.reporter.eval_end()

    @property
    def title(self) -> str:
        return f"{self.info.name} on {self.data.name}"

    def _plot(self, split: str = "val", test: dict[str, Any] | None = None) -> None:
        """Hands the plots' newest state to :class:`Plots` after every epoch (and at the
        end): curves.png always; the confusion matrices of best.pt (on val during the run, on
        test at the end) whenever best.pt has changed since they were last handed over. A plot
        process draws them while training goes on, each file written atomically; a state is
        skipped only when a newer one of the same file arrived before its drawing began."""
        jobs: dict[str, Job] = {
            str(self.run_dir / "curves.png"): (
                "curves",
                (self.history, self.title, self.best["epoch"]),
            )
        }
        counts = test["confusion"] if test else self.best.get("val_confusion")
        fresh = test is not None or self.best["epoch"] != self.confusion_plotted
        if counts is not None and fresh:
            what = f"best.pt (epoch {self.best['epoch']}) on {split}"
            total = sum(map(sum, counts))
            right = sum(row[i] for i, row in enumerate(counts))
            rows = [sum(r) for r in counts]
            shares = (
                test["confusion_normalized"]
                if test
                else [[v / t if t else 0.0 for v in r] for r, t in zip(counts, rows, strict=True)]
            )
            accuracy = f"{total:,} images, accuracy {right / max(total, 1):.2%}"
            for name, values, label, normalized in (
                ("confusion", counts, accuracy, False),
                ("confusion_normalized", shares, "share of each true class", True),
            ):
                jobs[str(self.run_dir / f"{name}.png")] = (
                    "confusion",
                    (
                        self.data.classes,
                        normalized,
                        values,
                        f"{self.title}\n{what}, {label}",
                        self.best["epoch"],
                    ),
                )
            self.confusion_plotted = self.best["epoch"]
        self.plots.submit(jobs)

    def _check(
        self, epoch: int, step: int, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int
    ) -> None:
        """Every CHECK_EVERY steps: stop on a NaN/inf loss (agreed by all ranks). (The
        progress bar reads the running sums itself, after every step, by time.)"""
        bad = (~torch.isfinite(loss_sum)).to(torch.float32).reshape(1)
        self.ctx.all_sum(bad)
        if bad.item() > 0:
            where = "at the end of" if step < 0 else f"by step {step} of"
            kept = (
                f"keeping the last good checkpoint ({self.run_dir / 'last.pt'}, epoch {self.epoch})"
                if self.epoch
                else "before any checkpoint was written"
            )
            raise Diverged(
                f"the training loss became {loss_sum.item()} {where} epoch {epoch}; stopped, "
                f"{kept}",
                hint="lower the learning rate (--lr), add warm-up "
                "(schedule … warmup=1), or check the data",
            )

    @contextlib.contextmanager
    def _quiet_scheduler_warning(self) -> Iterator[None]:
        """GradScaler skips optimizer steps with inf gradients; the schedule steps anyway."""
        with warnings.catch_warnings():
            if self.ctx.scaler is not None:
                warnings.filterwarnings(
                    "ignore", message=r"Detected call of `lr_scheduler", category=UserWarning
                )
            yield

    # -- files (rank 0 writes; every rank joins the RNG-state gather)
    def _start_files(self) -> None:
        if self.rank != 0:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        marker = self.run_dir / RUN_MARKER
        if not marker.exists():
            write_atomic(marker, "A cnndsl run folder: cnndsl train may replace its files.\n")
        config = {
            **self.cfg,
            "network": {
                "name": self.info.name,
                "file": self.info.file,
                "params": dict(self.info.params),
            },
            "run": {
                k: v
                for k, v in dataclasses.asdict(self.opts).items()
                if k not in ("resume", "progress", "verbose", "stop_after", "plot_process")
            },
        }
        if not (self.opts.resume and (self.run_dir / "config.json").exists()):
            write_atomic(self.run_dir / "config.json", json.dumps(config, indent=2) + "\n")
        lines = "".join(json.dumps(r) + "\n" for r in self.history)
        write_atomic(self.run_dir / "metrics.jsonl", lines)

    def _save(self, name: str, copy_to: str | None = None, gather: bool = True) -> None:
        states = [rng_state(self.ctx.augment)]
        if self.world > 1 and gather:
            import torch.distributed as dist

            gathered: list[Any] = [None] * self.world
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if self.rank != 0:
            return
        state = {
            "model": self.raw.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.ctx.scaler.state_dict() if self.ctx.scaler else None,
            "epoch": self.epoch,
            "config": self.cfg,
            "rng": states,
            "history": self.history,
            "best": self.best,
            "classes": list(self.data.classes),
            "network": {
                "name": self.info.name,
                "file": self.info.file,
                "params": dict(self.info.params),
                "input_shape": list(self.info.input_shape),
            },
        }
        save_checkpoint(state, self.run_dir / name)
        if copy_to:
            save_checkpoint(state, self.run_dir / copy_to)

    def _load_best(self) -> None:
        """best.pt's weights into the model, on every rank (rank 0 reads, then broadcasts)."""
        if self.best["epoch"] == self.epoch:
            return
        if self.rank == 0:
            self.raw.load_state_dict(load_checkpoint(self.run_dir / "best.pt")["model"])
        if self.world > 1:
            import torch.distributed as dist

            for tensor in self.raw.state_dict().values():
                dist.broadcast(tensor, 0)

    def _finish(self, test: bool) -> dict[str, Any]:
        """The test split, evaluated once on best.pt (when the run has finished), then
        metrics.json and the plots."""
        results = None
        if test and self.history:
            self._load_best()
            results = self._evaluate(self.test, "test (best.pt)")
        if self.rank != 0 or not self.history:
            return self.history[-1] if self.history else {}
        best_epoch = self.best["epoch"]
        final: dict[str, Any] = {
            "network": self.info.name,
            "data": self.data.name,
            "epochs": self.epoch,
            "finished": self.epoch >= self.cfg["epochs"],
            "epoch": self.epoch,
            "selected_on": "val" if self.val is not None else "last epoch",
            "best_epoch": best_epoch,
            "best_val_accuracy": self.best["val_accuracy"],
        }
        if results is not None:
            final["test"] = {"checkpoint": "best.pt", "epoch": best_epoch, **results}
            final.update(
                {
                    f"test_{k}": v
                    for k, v in results.items()
                    if k
                    in ("loss", "accuracy", f"top{TOP_K}_accuracy", "precision", "recall", "f1")
                }
            )
        else:
            final["test"] = None
        final["last"] = self.history[-1]
        final["history"] = self.history
        write_atomic(self.run_dir / "metrics.json", json.dumps(final, indent=2) + "\n")
        if results is not None:
            self._plot("test", results)
        else:
            self._plot()
        self.plots.close()  # the final plots are written when the run returns
        return final
