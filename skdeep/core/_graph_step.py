"""The training step on static buffers, captured once in a CUDA graph and replayed per batch.

On a GPU, a small network's step is bound by kernel launches, not arithmetic: capturing the
forward, backward and optimizer step once in a :class:`torch.cuda.CUDAGraph` and replaying it
per batch launches one graph instead of dozens of kernels. A graph replays fixed kernels on
fixed memory, so :class:`StaticStep`:

- copies each full batch into static buffers ``X``, ``y`` (and the sample weights), allocated
  once from the first batch; any batch of another shape (the last, partial batch of an epoch)
  is trained eagerly by the caller, on the same parameters and optimizer state;
- replaces each param group's learning rate by a tensor, changed in place by the schedules
  (:func:`skdeep.callbacks._common.set_group_lr`, torch's schedulers), which the fused Adam
  and AdamW kernels read at every replay; at the end of training the rates are floats again;
- runs a few real batches eagerly on a side stream before capturing (torch's requirement: the
  optimizer's state and the libraries' workspaces must exist before capture);
- checks at the start of each epoch that nothing the graph baked in changed (which parameters
  train, the optimizer and its state tensors, forward hooks) and captures again if it did.

Without capture (``capture=False``, the CPU) the same code runs each step on the static
buffers eagerly: that is how the tests on machines without a GPU prove it trains exactly as
the ordinary loop. See ``docs/performance.md`` for when the graph is used.
"""

from __future__ import annotations

import warnings

import torch
from skorch.callbacks import EpochScoring

COMPILE_OPTIONS = ("auto", "cuda_graph", "none")

# Devices the static step runs on; captured only on CUDA. The tests add "cpu", where it runs
# uncaptured to show that it trains as the ordinary loop.
STATIC_STEP_DEVICES: tuple[str, ...] = ("cuda",)

# Real batches stepped eagerly (on a side stream) before capture, as torch's docs advise.
WARMUP_STEPS = 3

# Optimizers whose fused step reads a tensor learning rate on the device and needs no host
# synchronisation, so that the whole step can be captured.
CAPTURABLE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def model_reason(net) -> str | None:
    """Why ``net``'s training step cannot run on static buffers; None when it can.

    Everything :func:`eager_reason` checks except the parameter and the device.
    """
    from ._fast_loop import implements

    if getattr(net, "augmentation", None) is not None:
        # Not captured: the augmented batch and its random draws would have to be replayed
        # inside the graph, which no test on a GPU has checked yet.
        return "augmentation transforms each training batch before the forward pass"
    hooked = [name for name, cb in net.callbacks_ if implements(cb, "on_grad_computed")]
    if hooked:
        return f"callbacks {hooked} implement on_grad_computed, which needs skorch's closure step"
    if net._needs_step_closure():
        return (
            f"{type(net).__name__} steps through skorch's closure (it overrides "
            "on_grad_computed or the step accumulator, or its optimizer is LBFGS)"
        )
    keeping = [
        name
        for name, cb in net.callbacks_
        if isinstance(cb, EpochScoring) and cb.on_train and cb.use_caching
    ]
    if keeping and net.use_caching is not False:
        # The captured step writes every batch's outputs into the same tensor.
        return (
            f"callbacks {keeping} keep the training batches' outputs until the epoch ends "
            "(EpochScoring(on_train=True))"
        )
    if len(net._optimizers) != 1:
        return f"the net has {len(net._optimizers)} optimizers; the captured step handles one"
    optimizer = net.optimizer_
    if type(optimizer) not in CAPTURABLE_OPTIMIZERS or not all(
        group.get("fused") for group in optimizer.param_groups
    ):
        return (
            f"the optimizer is {type(optimizer).__name__}"
            f"{'' if all(g.get('fused') for g in optimizer.param_groups) else ' (not fused)'}; "
            "only torch's fused Adam and AdamW read a tensor learning rate without a host "
            "synchronisation (use optimizer='adam' or 'adamw')"
        )
    return None


def eager_reason(net) -> str | None:
    """Why ``net``'s training step will not be captured in a CUDA graph; None when it will.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> eager_reason(SimpleNamespace(graph_step="none", device="cuda"))
    "compile='none'"
    >>> eager_reason(SimpleNamespace(graph_step="auto", device="cpu"))
    'the device is cpu: CUDA graphs need a CUDA device'
    """
    if net.graph_step == "none":
        return "compile='none'"
    device = torch.device(net.device)
    if device.type not in STATIC_STEP_DEVICES:
        return f"the device is {device}: CUDA graphs need a CUDA device"
    return model_reason(net)


def report_eager(net, reason: str) -> None:
    """Record why the step runs eagerly; print it (verbose) and warn when a graph was asked."""
    net.train_step_mode_ = "eager"
    net.eager_reason_ = reason
    if net.graph_step == "none":
        return
    if net.graph_step == "cuda_graph":
        warnings.warn(
            f"compile='cuda_graph' was asked, but the training step runs eagerly: {reason}.",
            UserWarning,
            stacklevel=3,
        )
    if net.verbose and (net.graph_step == "cuda_graph" or torch.device(net.device).type == "cuda"):
        print(f"The training step runs eagerly, not in a CUDA graph: {reason}.")


def start_static_step(net) -> StaticStep | None:
    """The :class:`StaticStep` for this training of ``net``, or None (and why) for eager."""
    reason = eager_reason(net)
    if reason is not None:
        report_eager(net, reason)
        return None
    return StaticStep(net, capture=torch.device(net.device).type == "cuda")


def _unpack(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    X, target = batch
    if isinstance(target, (tuple, list)):
        return X, target[0], target[1]
    return X, target, None


class StaticStep:
    """One optimizer step per batch on static buffers, captured in a CUDA graph when asked.

    Parameters
    ----------
    net : SkdeepNet
        An initialized net whose step :func:`model_reason` accepts.
    capture : bool
        Capture the step in a CUDA graph after :data:`WARMUP_STEPS` steps (the net's device
        must be CUDA); False runs every step eagerly on the static buffers.

    Attributes
    ----------
    graph : torch.cuda.CUDAGraph or None
        The captured step, once captured.
    replays, static_steps : int
        Batches trained by replaying the graph, and eagerly on the static buffers.
    reason : str or None
        Why the step gave up on static buffers during training (the data's device, a failed
        capture); the remaining batches are then trained eagerly.

    Examples
    --------
    >>> import torch
    >>> from skdeep.core._net import SkdeepNet
    >>> net = SkdeepNet(torch.nn.Linear(3, 2), criterion=torch.nn.CrossEntropyLoss(
    ...     reduction="none"), optimizer=torch.optim.Adam, optimizer__fused=True).initialize()
    >>> step = StaticStep(net, capture=False)
    >>> batch = (torch.ones(4, 3), torch.tensor([0, 1, 0, 1]))
    >>> step.run(batch)["loss"].item() > 0, step.static_steps
    (True, 1)
    >>> step.run((torch.ones(1, 3), torch.tensor([0]))) is None  # partial: the caller's
    True
    >>> step.close()
    """

    def __init__(self, net, capture: bool) -> None:
        self.net = net
        self.capture = capture
        self.device = torch.device(net.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.replays = 0
        self.static_steps = 0
        self.reason: str | None = None
        self._buffers: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self._outputs: dict | None = None
        self._graph_grads: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._grads_moved = False
        self._warmup_left = WARMUP_STEPS
        self._signature: tuple | None = None
        self._checked_epoch = -1
        # The rate as a tensor: float32 on a GPU, as the fused kernels read it; float64 on a
        # CPU, where the fused kernels read it as a number, so that it is exactly the float.
        dtype = torch.float32 if self.device.type == "cuda" else torch.float64
        self._saved_groups = []
        for group in net.optimizer_.param_groups:
            self._saved_groups.append((group, group.get("capturable", False)))
            group["lr"] = torch.tensor(float(group["lr"]), dtype=dtype, device=self.device)
            if capture:
                group["capturable"] = True
        if capture:
            # The warm-up and partial batches step outside the graph by design.
            net.optimizer_._warned_capturable_if_run_uncaptured = True

    # -- the step ---------------------------------------------------------------------------

    def run(self, batch) -> dict | None:
        """Train on ``batch``; None when the caller must train it eagerly (a partial batch)."""
        if self.reason is not None:
            return None
        X, y, w = _unpack(batch)
        if self._buffers is None and not self._allocate(X, y, w):
            return None
        static_X, static_y, static_w = self._buffers
        if (
            X.shape != static_X.shape
            or y.shape != static_y.shape
            or (w is None) != (static_w is None)
        ):
            self._grads_moved = True
            return None
        net = self.net
        net._set_training(True)
        epoch = len(net.history)
        if epoch != self._checked_epoch:
            self._checked_epoch = epoch
            self._check_unchanged()
        static_X.copy_(X)
        static_y.copy_(y)
        if w is not None:
            static_w.copy_(w)
        if self.graph is not None:
            if self._grads_moved:
                # An eager batch left its own gradients on the parameters; callbacks reading
                # p.grad must see the ones the graph writes.
                for param, grad in self._graph_grads:
                    param.grad = grad
                self._grads_moved = False
            self.graph.replay()
            self.replays += 1
            return self._outputs
        if not self.capture:
            self.static_steps += 1
            return self._step()
        if self._warmup_left > 0:
            self._warmup_left -= 1
            self.static_steps += 1
            return self._on_side_stream()
        return self._capture()

    def _static_batch(self):
        X, y, w = self._buffers
        return (X, y) if w is None else (X, (y, w))

    def _step(self) -> dict:
        net = self.net
        net._zero_grad_optimizer()
        step = net.train_step_single(self._static_batch())
        net._step_optimizer(None)
        return step

    def _allocate(self, X, y, w) -> bool:
        tensors = [X, y] if w is None else [X, y, w]
        if any(t.device != self.device for t in tensors):
            self._give_up(f"the training data is on {X.device}, not on {self.device}")
            return False
        self._buffers = (
            torch.empty_like(X),
            torch.empty_like(y),
            None if w is None else torch.empty_like(w),
        )
        return True

    def _on_side_stream(self) -> dict:
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            step = self._step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        return step

    def _capture(self) -> dict | None:
        net = self.net
        graph = torch.cuda.CUDAGraph()
        # Gradients start as None so that backward allocates them in the graph's memory and
        # every replay overwrites (not accumulates) them.
        net._zero_grad_optimizer()
        try:
            with torch.cuda.graph(graph):
                outputs = self._step()
        except RuntimeError as error:
            net._zero_grad_optimizer()
            self._give_up(f"capturing the step failed ({error})")
            return None
        self.graph, self._outputs = graph, outputs
        self._graph_grads = [
            (p, p.grad) for group in net.optimizer_.param_groups for p in group["params"]
        ]
        self._graph_grads = [(p, g) for p, g in self._graph_grads if g is not None]
        self._signature = self._state_signature()
        if net.verbose:
            print(
                f"The training step is captured in a CUDA graph (batches of {len(self._buffers[0])}"
                " samples; other batch sizes run eagerly)."
            )
        graph.replay()
        self.replays += 1
        return outputs

    # -- what the graph baked in --------------------------------------------------------------

    def _state_signature(self) -> tuple:
        optimizer = self.net.optimizer_
        params = [p for group in optimizer.param_groups for p in group["params"]]
        return (
            id(optimizer),
            tuple((p.data_ptr(), p.requires_grad) for p in params),
            tuple(
                t.data_ptr()
                for state in optimizer.state.values()
                for t in state.values()
                if isinstance(t, torch.Tensor)
            ),
            tuple(id(group["lr"]) for group in optimizer.param_groups),
            tuple(
                len(m._forward_pre_hooks) + len(m._forward_hooks) + len(m._backward_hooks)
                for m in self.net.module_.modules()
            ),
        )

    def _check_unchanged(self) -> None:
        if self.graph is None or self._state_signature() == self._signature:
            return
        # A callback changed what the graph baked in (FreezeParameters unfreezing, say):
        # warm up again, so that new optimizer state exists, and capture again.
        self.graph, self._outputs, self._graph_grads = None, None, []
        self._grads_moved = False
        self._warmup_left = WARMUP_STEPS
        if self.net.verbose:
            print("The parameters or the optimizer changed: the training step is captured again.")

    def _give_up(self, reason: str) -> None:
        self.reason = reason
        self.graph, self._outputs, self._graph_grads = None, None, []
        report_eager(self.net, reason)

    # -- end of training ----------------------------------------------------------------------

    def close(self) -> None:
        """Give the learning rates back as floats and record how the batches were trained."""
        for group, capturable in self._saved_groups:
            # torch's schedulers keep their starting rate as a copy of a tensor rate.
            for key in ("lr", "initial_lr"):
                if isinstance(group.get(key), torch.Tensor):
                    group[key] = float(group[key])
            group["capturable"] = capturable
        net = self.net
        if self.reason is not None:
            pass  # report_eager recorded it
        elif self.replays:
            net.train_step_mode_, net.eager_reason_ = "cuda_graph", None
        elif not self.capture:
            net.train_step_mode_, net.eager_reason_ = "static", None
        else:
            net.train_step_mode_ = "eager"
            net.eager_reason_ = (
                f"fewer than {WARMUP_STEPS + 1} full batches: too few to capture the step"
            )
        net.graph_replays_ = self.replays
        net.static_batches_ = self.replays + self.static_steps
        if self._graph_grads:
            net._zero_grad_optimizer()
        self.graph, self._outputs, self._graph_grads, self._buffers = None, None, [], None
