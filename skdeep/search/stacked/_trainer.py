"""Train many same-shape networks at once: weights stacked along a leading axis, one vmapped step.

Each member is a skdeep estimator prepared for its fit (``net_`` built with its seed, targets
encoded) but not yet trained, with the rows it trains and validates on. The members' weights
are stacked with :func:`torch.func.stack_module_state`; one step computes every member's
gradients with :func:`torch.func.vmap` over :func:`torch.func.grad` of a
:func:`torch.func.functional_call`, so all members share each kernel launch. Each member keeps
its own shuffling, learning rate and schedule, momentum, penalties, dropout rate, optimizer
state, early stopping and divergence; at the end its weights and history are written back into
its estimator, which then predicts as any fitted estimator.

A member reproduces its separate fit: the same initial weights, validation split and per-epoch
permutations (its own generator, seeded as the separate fit's), hence the same weights to float
tolerance, except with dropout, whose masks come from a different random stream.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from ...callbacks import ReduceLROnPlateau, correct_predictions, divergence_advice
from ...core import CPU_PREDICT_BATCH_SIZE, per_sample_loss
from ...modules import penalized_parameters
from ...utils.denormals import flushed_denormals
from ...utils.interrupt import SigintWatch
from ...utils.threads import fit_thread_count, make_tuner, torch_threads
from ._members import Member, initial_lr, schedule_of


class _MemberDropout(nn.Module):
    """Dropout whose rate is a buffer, so that each stacked member has its own."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("p", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep / (1 - self.p)


def _functional_module(module: nn.Module) -> tuple[nn.Module, list[str]]:
    """A copy of ``module`` on the meta device with each Dropout replaced by a member dropout."""
    skeleton = copy.deepcopy(module).to("meta")
    dropout_paths = []
    for name, layer in list(skeleton.named_modules()):
        if isinstance(layer, nn.Dropout):
            parent_name, _, child = name.rpartition(".")
            parent = skeleton.get_submodule(parent_name) if parent_name else skeleton
            setattr(parent, child, _MemberDropout())
            dropout_paths.append(name)
    return skeleton, dropout_paths


def _gather(stacked: torch.Tensor, rows: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``stacked[offsets[k] + rows[k, i]]`` for every member ``k``, shaped (K, n, ...)."""
    flat = (rows + offsets[:, None]).reshape(-1)
    return stacked.index_select(0, flat).view(*rows.shape, *stacked.shape[1:])


def _padded(rows: list[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of each member padded with 0 to a (K, n_max) tensor, and which of them are real."""
    counts = torch.tensor([len(r) for r in rows], device=device)
    padded = torch.zeros((len(rows), int(counts.max())), dtype=torch.long, device=device)
    for k, r in enumerate(rows):
        padded[k, : len(r)] = r
    real = torch.arange(padded.shape[1], device=device)[None, :] < counts[:, None]
    return padded, real


def _record_epoch(history, values: dict) -> None:
    """Add an epoch to a member's history with ``values`` (those that are None left out)."""
    history.new_epoch()
    history.record("epoch", len(history))
    for key, value in values.items():
        if value is not None:
            history.record(key, value)


class _MemberOptimizers:
    """One torch optimizer over the stacked weights, with each member's rate and settings.

    Each member's row of the (K, n_weights) weights is a parameter of its own (sharing the
    memory); members with the same settings share a parameter group, so torch's fused or
    foreach update runs once per group, and a member with a schedule has a group of its own.
    A member without a gradient at a step (stopped, or no batch left this epoch) is skipped by
    torch, weights and optimizer state untouched, as its separate fit would be.
    """

    def __init__(self, members: list[Member], weights: torch.Tensor, rates: list[float]) -> None:
        self.rows = [nn.Parameter(row) for row in weights]
        groups: dict[str, dict] = {}
        scheduled_keys: dict[int, str] = {}
        for k, member in enumerate(members):
            settings = dict(member.estimator.net_.optimizer_.param_groups[0])
            del settings["params"]
            settings["lr"] = rates[k]
            key = repr(sorted(settings.items()))
            if schedule_of(member.estimator) is not None:
                key = scheduled_keys[k] = f"member {k}"
            groups.setdefault(key, {**settings, "params": []})["params"].append(self.rows[k])
        self.optimizer = type(members[0].estimator.net_.optimizer_)(list(groups.values()))
        position = {key: i for i, key in enumerate(groups)}
        self.scheduled_groups = {k: position[key] for k, key in scheduled_keys.items()}
        # The gradients of every step are written here; each member's row is its parameter's
        # gradient, set once and taken away only while the member does not step.
        self.grad = torch.zeros_like(weights)
        self.stepping: list[bool] | None = None

    def step(self, grads: list[torch.Tensor], stepping: list[bool], rates: list[list]) -> None:
        """One step of the members that are ``stepping``, at their ``rates`` if scheduled.

        ``grads`` are the members' gradients, one (K, ...) tensor per layer; ``rates[k]`` is
        member k's rate (read for scheduled members only).
        """
        torch.cat([g.reshape(len(self.rows), -1) for g in grads], dim=1, out=self.grad)
        if stepping != self.stepping:
            for row, grad, steps in zip(self.rows, self.grad, stepping, strict=True):
                row.grad = grad if steps else None
            self.stepping = stepping
        for k, group in self.scheduled_groups.items():
            self.optimizer.param_groups[group]["lr"] = rates[k]
        self.optimizer.step()


class StackedTrainer:
    """Train ``members`` (same :func:`stack_key`) together on features ``X``.

    Parameters
    ----------
    members : list of Member
    X : torch.Tensor
        The features of every data slot, one after the other, as the modules take them; a
        member's row ``i`` is ``X[member.slot * n_rows + i]``.
    n_rows : int
        Rows per slot.
    """

    def __init__(self, members: list[Member], X: torch.Tensor, n_rows: int) -> None:
        self.members = members
        self.X = X
        self.n_rows = n_rows
        first = members[0].estimator
        self.device = torch.device(first.net_.device)
        self.batch_size = first.batch_size
        self.tuner = None  # set by train() for n_threads="auto"
        self.criterion = first.net_.criterion_
        self.classification = first.net_.classification
        modules = [m.estimator.net_.module_ for m in members]
        self.skeleton, dropout_paths = _functional_module(modules[0])
        self.skeleton.train()
        params, _ = stack_module_state(modules)
        self.shapes = {name: p.shape[1:] for name, p in params.items()}
        # One (K, n_weights) tensor, each row a member's parameter for the optimizer;
        # ``params`` are views of it, by layer, for the forward pass.
        self.weights = torch.cat([p.detach().reshape(len(modules), -1) for p in params.values()], 1)
        self.params = self._by_layer(self.weights)
        self.buffers = {
            f"{path}.p": torch.tensor(
                [m.get_submodule(path).p for m in modules], device=self.device
            )
            for path in dropout_paths
        }
        self.penalized = [
            name
            for name, p in modules[0].named_parameters()
            if any(p is q for q in penalized_parameters(modules[0]))
        ]
        K = len(members)
        self.offsets = torch.tensor([m.slot * n_rows for m in members], device=self.device)
        self.member_offsets = torch.arange(K, device=self.device) * n_rows
        self.Y = torch.cat([m.y for m in members])
        self.W = (
            None
            if all(m.weights is None for m in members)
            else torch.cat(
                [
                    torch.ones(n_rows, device=self.device) if m.weights is None else m.weights
                    for m in members
                ]
            )
        )
        ests = [m.estimator for m in members]
        self.initial_lr = [initial_lr(e) for e in ests]
        # (K, n_weight_layers): each member's penalty of each layer.
        self.l1 = torch.tensor([e.net_.l1_all_layers_ for e in ests], device=self.device)
        self.l2 = torch.tensor([e.net_.l2_all_layers_ for e in ests], device=self.device)
        self.penalize = bool(self.l1.any() or self.l2.any())
        self.optimizer = _MemberOptimizers(members, self.weights, self.initial_lr)
        self.schedules = [schedule_of(e) for e in ests]
        for estimator, schedule, rate in zip(ests, self.schedules, self.initial_lr, strict=True):
            if isinstance(schedule, ReduceLROnPlateau):
                # The member's own (otherwise unused) optimizer holds its rate, which the
                # callback lowers on a plateau exactly as in the member's separate fit.
                estimator.net_.optimizer_.param_groups[0]["lr"] = rate
                schedule.on_train_begin(estimator.net_)
        self.steps_done = [0] * K
        # TerminateOnNaN's checks, mirrored: each member's loss at its initial weights (its
        # first batch's, at least ln(n_classes) for a classifier) and the growth it allows.
        self.start_loss: list[float] | None = None
        self.max_loss_growth = [
            getattr(dict(e.net_.callbacks_).get("terminate_on_nan"), "max_loss_growth", 100.0)
            for e in ests
        ]
        self._valid: tuple[torch.Tensor, torch.Tensor] | None = None  # padded validation rows
        self._step = vmap(
            grad(self._member_loss, has_aux=True),
            in_dims=(0, 0, 0, 0, 0, 0, 0, 0),
            randomness="different",
        )
        self._forward = vmap(self._member_outputs, in_dims=(0, 0, 0), randomness="different")

    def _by_layer(self, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of stacked flat ``weights``, one (K, *shape) tensor per parameter."""
        views, start = {}, 0
        for name, shape in self.shapes.items():
            size = math.prod(shape)
            views[name] = weights[:, start : start + size].view(len(weights), *shape)
            start += size
        return views

    # -- the functions vmapped over members ------------------------------------------------

    def _member_outputs(self, params, buffers, x):
        return functional_call(self.skeleton, {**params, **buffers}, (x,))

    def _per_sample_loss(self, outputs, y):
        return per_sample_loss(self.criterion, outputs, y)

    def _member_loss(self, params, buffers, x, y, row_weight, count, l1, l2):
        outputs = self._member_outputs(params, buffers, x)
        loss = (self._per_sample_loss(outputs, y) * row_weight).sum() / count
        if self.penalize:
            for k, name in enumerate(self.penalized):
                w = params[name]
                loss = loss + l1[k] * w.abs().sum() + (l2[k] / 2) * w.pow(2).sum()
        hits = correct_predictions(outputs.detach(), y) if self.classification else y[:0]
        return loss, (loss.detach(), hits)

    # -- the loop ---------------------------------------------------------------------------

    def _batch(self, rows: torch.Tensor, real: torch.Tensor, start: int, stop: int):
        """The stacked batch at positions ``start:stop`` of each member's padded ``rows``.

        Returns the features, targets, each row's weight in the loss (0 for padding), and which
        rows are real (not padding).
        """
        index, real = rows[:, start:stop], real[:, start:stop]
        x = _gather(self.X, index, self.offsets)
        y = _gather(self.Y, index, self.member_offsets)
        row_weight = real.to(self.X.dtype)
        if self.W is not None:
            row_weight = row_weight * _gather(self.W, index, self.member_offsets)
        return x, y, row_weight, real

    def _learning_rates(self, k: int, epoch: int, n_steps: int, total_steps: int) -> list[float]:
        """Member ``k``'s rate at each step of the epoch (its ``n_steps``, padded to ``total``)."""
        schedule, lr0 = self.schedules[k], self.initial_lr[k]
        if schedule is None:
            return [lr0] * total_steps
        if isinstance(schedule, ReduceLROnPlateau):
            own_rate = self.members[k].estimator.net_.optimizer_.param_groups[0]["lr"]
            return [float(own_rate)] * total_steps
        if schedule.unit == "epoch":
            return [schedule.lr_at(epoch - 1, lr0)] * total_steps
        if getattr(schedule, "steps_per_decay_", 0) is None:  # decay_steps="epoch"
            schedule.steps_per_decay_ = n_steps
        if getattr(schedule, "total_steps_", 0) is None and n_steps:  # sized to the training
            schedule.plan(n_steps, self.members[k].estimator.net_.max_epochs)
        start = self.steps_done[k]
        return [schedule.lr_at(start + s, lr0) for s in range(total_steps)]

    def _train_epoch(self, epoch: int, active: list[bool]):
        """One epoch of every active member.

        Returns each member's training loss and running accuracy (None for regressors), its
        steps and its first rate.
        """
        K, size = len(self.members), self.batch_size
        orders = []
        for k, member in enumerate(self.members):
            rows = member.train_rows
            if active[k]:
                permutation = torch.randperm(
                    len(rows), device=self.device, generator=member.generator
                )
                orders.append(rows.index_select(0, permutation))
            else:
                orders.append(rows[:0])
        rows, real_rows = _padded(orders, self.device)
        counts = real_rows.sum(dim=1)
        n_steps = [math.ceil(len(order) / size) for order in orders]
        total_steps = max(n_steps)
        rates = [self._learning_rates(k, epoch, n_steps[k], total_steps) for k in range(K)]
        loss_sum = torch.zeros(K, device=self.device)
        correct = torch.zeros(K, device=self.device)
        tuner = self.tuner
        for step in range(total_steps):
            began = 0.0 if tuner is None else tuner.begin()
            x, y, row_weight, real = self._batch(rows, real_rows, step * size, (step + 1) * size)
            count = real.sum(dim=1)
            grads, (loss, hits) = self._step(
                self.params, self.buffers, x, y, row_weight, count.clamp_min(1), self.l1, self.l2
            )
            self.optimizer.step(
                [grads[name] for name in self.shapes],
                stepping=[n > step for n in n_steps],
                rates=[member_rates[step] for member_rates in rates],
            )
            if self.start_loss is None:
                self.start_loss = self._start_losses(loss)
            loss_sum += torch.where(count > 0, loss * count, 0.0)
            if self.classification:
                correct += (hits & real).sum(dim=1)
            if tuner is not None:  # only full steps are timed
                tuner.end(began, size if (step + 1) * size <= rows.shape[1] else 0)
        for k in range(K):
            self.steps_done[k] += n_steps[k]
        first_rates = [member_rates[0] for member_rates in rates]
        losses = (loss_sum / counts.clamp_min(1)).tolist()
        accuracies = (correct / counts.clamp_min(1)).tolist() if self.classification else None
        return losses, accuracies, n_steps, first_rates

    def _start_losses(self, first_loss: torch.Tensor) -> list[float]:
        """Each member's starting loss, as :class:`TerminateOnNaN` takes it."""
        floor = 0.0
        if self.classification:
            floor = math.log(self.members[0].estimator._n_outputs())
        return [max(value, floor) for value in first_loss.tolist()]

    def _divergence(self, k: int, loss: float, finite_weights: bool) -> str | None:
        """Why member ``k`` diverged in this epoch, as its separate fit would say; or None."""
        start = None if self.start_loss is None else self.start_loss[k]
        growth = self.max_loss_growth[k]
        if not math.isfinite(loss):
            return f"the training loss became {loss}"
        if start is not None and math.isfinite(start) and start > 0 and loss > growth * start:
            return (
                f"the training loss grew to {loss:.3g}, more than {growth:g} times the "
                f"{start:.3g} it started from,"
            )
        if not finite_weights:
            return "the weights became NaN or infinite"
        return None

    @torch.no_grad()
    def _validate(self, classification: bool) -> tuple[list, list]:
        """Each member's validation loss and accuracy (None without validation rows)."""
        members = self.members
        none = [None] * len(members)
        if all(m.valid_rows is None for m in members):
            return none, none
        if self._valid is None:
            self._valid = _padded(
                [m.train_rows[:0] if m.valid_rows is None else m.valid_rows for m in members],
                self.device,
            )
        rows, real_rows = self._valid
        counts = real_rows.sum(dim=1)
        size = max(self.batch_size, CPU_PREDICT_BATCH_SIZE)
        loss_sum = torch.zeros(len(members), device=self.device)
        correct = torch.zeros(len(members), device=self.device)
        self.skeleton.eval()
        try:
            for start in range(0, rows.shape[1], size):
                x, y, row_weight, real = self._batch(rows, real_rows, start, start + size)
                outputs = self._forward(self.params, self.buffers, x)
                loss_sum += (vmap(self._per_sample_loss)(outputs, y) * row_weight).sum(dim=1)
                if classification:
                    correct += (correct_predictions(outputs, y) & real).sum(dim=1)
        finally:
            self.skeleton.train()
        losses = (loss_sum / counts.clamp_min(1)).tolist()
        accuracies = (correct / counts.clamp_min(1)).tolist()
        has = [m.valid_rows is not None for m in members]
        return (
            [v if h else None for v, h in zip(losses, has, strict=True)],
            [v if h and classification else None for v, h in zip(accuracies, has, strict=True)],
        )

    def train(self) -> None:
        """Train every member for its ``max_epochs`` (or until it stops), then write it back.

        At the members' shared ``n_threads``: an int, or ``"auto"`` choosing by timing the
        stack's steps as a single fit does; the caller's count is restored afterwards. On a
        CPU, denormal floats are flushed to zero meanwhile, as in a single fit
        (:mod:`skdeep.utils.denormals`).
        """
        n_threads = self.members[0].estimator.n_threads
        with torch_threads(fit_thread_count(n_threads)), flushed_denormals(self.device):
            self.tuner = make_tuner(
                n_threads,
                self.device,
                self.batch_size,
                max(math.ceil(len(m.train_rows) / self.batch_size) for m in self.members),
                max(m.estimator.max_epochs for m in self.members),
            )
            try:
                with SigintWatch() as self._ctrl_c:
                    self._train()
            finally:
                for member in self.members:
                    member.estimator.n_threads_ = torch.get_num_threads()
                    member.estimator.net_.n_threads_ = member.estimator.n_threads_

    def _train(self) -> None:
        members = self.members
        classification = members[0].estimator.net_.classification
        # Each member's own EarlyStopping callback counts its epochs, as in its separate fit;
        # the stack keeps the best weights, the callback only which epoch was best.
        stopping = [dict(m.estimator.net_.callbacks_).get("early_stopping") for m in members]
        for member, rule in zip(members, stopping, strict=True):
            if rule is not None:
                rule.on_train_begin(member.estimator.net_)
        stopped = [False] * len(members)
        best = self.weights.clone() if any(rule is not None for rule in stopping) else None
        for epoch in range(1, max(m.estimator.max_epochs for m in members) + 1):
            active = [
                m.error is None and epoch <= m.estimator.max_epochs and not stopped[k]
                for k, m in enumerate(members)
            ]
            if not any(active):
                break
            began = time.perf_counter()
            train_loss, train_acc, n_steps, lrs = self._train_epoch(epoch, active)
            valid_loss, valid_acc = self._validate(classification)
            share = (time.perf_counter() - began) / sum(active)
            probe = None if self.tuner is None else self.tuner.new_probe()
            improved = [False] * len(members)
            finite = self.weights.isfinite().all(dim=1).tolist()
            for k, member in enumerate(members):
                if not active[k]:
                    continue
                record = {
                    "train_loss": train_loss[k],
                    "train_acc": None if train_acc is None else train_acc[k],
                    "train_batch_count": n_steps[k],
                    "valid_loss": valid_loss[k],
                    "valid_acc": valid_acc[k],
                    "lr": lrs[k],
                    "epoch_time": share,
                    "dur": share,
                    "n_threads": torch.get_num_threads(),
                    "thread_probe": probe,
                }
                _record_epoch(member.estimator.net_.history, record)
                why = self._divergence(k, train_loss[k], finite[k])
                if why is not None:
                    advice = divergence_advice(
                        lrs[k], getattr(member.estimator.net_, "target_scale_", None)
                    )
                    member.error = f"Training diverged: {why} in epoch {epoch}. {advice}"
                    continue
                if isinstance(self.schedules[k], ReduceLROnPlateau):
                    self.schedules[k].on_epoch_end(member.estimator.net_)
                if stopping[k] is not None:
                    try:
                        stopping[k].on_epoch_end(member.estimator.net_)
                    except KeyboardInterrupt:  # how skorch's EarlyStopping ends a fit
                        if self._ctrl_c.received:
                            raise
                        stopped[k] = True
                    improved[k] = stopping[k].best_epoch_ == epoch
            if best is not None and any(improved):
                keep = torch.tensor(improved, device=self.device)[:, None]
                best = torch.where(keep, self.weights, best)
        for k, (member, rule) in enumerate(zip(members, stopping, strict=True)):
            epochs = len(member.estimator.net_.history)
            restore = rule is not None and rule.best_epoch_ not in (0, epochs)
            self._write_back(k, self._by_layer(best if restore else self.weights))

    def _write_back(self, k: int, params: dict[str, torch.Tensor]) -> None:
        estimator = self.members[k].estimator
        with torch.no_grad():
            for name, p in estimator.net_.module_.named_parameters():
                p.copy_(params[name][k])
        estimator.history_ = estimator.net_.history
        estimator.n_iter_ = len(estimator.history_)
