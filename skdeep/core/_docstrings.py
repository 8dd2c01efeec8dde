"""Parameter documentation shared by the estimators' docstrings."""

from __future__ import annotations

ARCHITECTURE_PARAMETERS_DOC = """\
    hidden_layer_sizes : tuple of int or int, default=(100,)
        One entry per hidden layer, its number of units; an int is one hidden layer, as in
        scikit-learn. ``()`` gives no hidden layer: softmax (or linear) regression.
    activation : {"relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh"} or str, \
default="relu"
        Activation of the hidden layers. ``"leaky_relu(0.2)"`` sets leaky ReLU's negative
        slope (0.01 for ``"leaky_relu"``, torch's default) and ``"elu(0.5)"`` ELU's alpha
        (1.0)."""

LAYER_PARAMETERS_DOC = """\
    dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden activation (0 disables it).
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation.
    kernel_initializer : {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal", \
"random_uniform", "random_normal", "default"}, default="glorot_uniform"
        Initialisation of the weights (Keras' names; biases start at zero). ``"default"``
        keeps PyTorch's initialisation."""

EMBEDDING_PARAMETERS_DOC = """\
    numeric_embedding : {"periodic", "piecewise_linear"} or None, default=None
        Embed each feature into ``d_embedding`` values before the first layer, as in Gorishniy
        et al. (2022), "On Embeddings for Numerical Features in Tabular Deep Learning", with
        the authors' ``rtdl-num-embeddings`` (``pip install 'skdeep[tables]'``). The MLP then
        takes the ``n_features * d_embedding`` embedded values. ``"periodic"`` (the paper's
        PLR): cosines and sines of 48 learned frequencies per feature (initial scale 0.01),
        then a linear layer and a ReLU per feature. ``"piecewise_linear"`` (PLE, the package's
        version "B"): a linear embedding plus a learned embedding of each feature's position
        in its quantile bins, which ``fit`` computes on the rows that train (not the
        validation rows) into ``embedding_bins_``. Meant for numeric, scaled features; L1/L2
        penalties apply to the MLP's layers, not to the embedding. None: no embedding.
    d_embedding : int >= 1 or None, default=None
        Values per feature of ``numeric_embedding``; None gives the package's recommended
        starting points for an MLP, 24 for ``"periodic"`` and 12 for ``"piecewise_linear"``.
    n_bins : int >= 2, default=48
        Quantile bins per feature of ``"piecewise_linear"`` (the package's default): at most
        one fewer than the training rows, fewer for a feature of few distinct values."""

TRAINING_PARAMETERS_DOC = """\
    optimizer : {"sgd", "adam", "adamw", "nadam", "rmsprop", "adagrad"}, default="adam"
        The torch optimizer, in its fused or foreach implementation where torch has one.
    learning_rate : float > 0, default=1e-3
        The optimizer's learning rate.
    momentum : float in [0, 1] or None, default=None
        Momentum of ``"sgd"`` and ``"rmsprop"``; ignored by the other optimizers. None
        gives 0.9 for ``"sgd"`` (scikit-learn's default) and 0 for ``"rmsprop"`` (torch's
        and Keras'). See the optimizer table in ``docs/index.md``.
    batch_size : int >= 1, default=32
        Samples per mini-batch; the last batch of an epoch holds the remainder.
    max_epochs : int >= 1, default=100
        Epochs trained by ``fit``. ``partial_fit`` trains exactly one.
    l1 : float >= 0 or tuple of float, default=0.0
        L1 penalty ``l1 * sum|w|`` on the weights (not the biases), added to the loss. A
        tuple gives one value per weight layer: the convolutions and hidden layers in order,
        then the output layer (a network with 2 hidden layers takes 3 values).
    l2 : float >= 0 or tuple of float, default=0.0
        L2 penalty ``l2 / 2 * sum w**2`` on the weights (not the biases), added to the loss;
        a float or one value per weight layer, as for ``l1``.
    validation_fraction : float in [0, 1), default=0.1
        Fraction of the training data held out (stratified for classifiers) to record
        ``valid_loss`` (and ``valid_acc``) in ``history_``. 0 trains on everything.
    early_stopping : bool, default=False
        Stop when ``early_stopping_monitor`` has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and keep the weights of its best epoch
        (:class:`skdeep.callbacks.EarlyStopping`). A validation column needs
        ``validation_fraction > 0``.
    early_stopping_monitor : str, default="valid_loss"
        The history column ``early_stopping`` watches (Keras' ``monitor``): ``"valid_loss"``,
        ``"valid_acc"`` (classifiers), ``"train_loss"``, ``"train_acc"``, or the name of a
        score one of ``callbacks`` records (such as skorch's
        ``EpochScoring("f1_macro", lower_is_better=False, name="valid_f1")``). Losses improve
        downwards, accuracies upwards; a scoring callback's column goes the way its
        ``lower_is_better`` says, any other the way its name says (upwards for names holding
        ``acc``, ``score``, ``f1``, ``auc``, ``r2`` ...). A column that nothing records is
        refused before training (with ``callbacks``, at the end of the first epoch).
    n_iter_no_change : int >= 1, default=10
        Patience of ``early_stopping``, in epochs. Unlike scikit-learn's MLP, it, ``tol`` and
        ``early_stopping_monitor`` play no part without ``early_stopping``: a fit then runs all
        ``max_epochs``.
    tol : float >= 0, default=1e-4
        The smallest change of ``early_stopping_monitor`` (absolute, in its direction) that
        counts as an improvement for ``early_stopping``.
    on_divergence : {"raise", "stop", "continue"}, default="raise"
        What a diverging fit does: its training loss or weights become NaN or infinite, or its
        loss grows to 100 times where it started (:class:`skdeep.callbacks.TerminateOnNaN`).
        ``"raise"``: stop with :class:`~skdeep.callbacks.TrainingDivergedError` (inside a
        search, the candidate fails and the search goes on). ``"stop"``: stop training, keep
        the history and the weights of the last epoch whose weights were finite, warn, and
        set ``diverged_``. ``"continue"``: warn once, set ``diverged_`` and train all the
        epochs, to watch what an extreme learning rate does. The history's ``diverged``
        column marks the epoch.
    lr_schedule : {"exponential", "cyclic", "plateau", "one_cycle", "cosine"}, skorch \
callback or None, default=None
        How the learning rate changes during training (see ``docs/callbacks.md``):
        ``"exponential"`` multiplies it by 0.96 per epoch, smoothly per step;
        ``"cyclic"`` cycles it between ``learning_rate / 10`` and ``learning_rate`` (triangular,
        5 epochs up and 5 down); ``"plateau"`` divides it by 10 after 3 epochs without
        improvement of ``valid_loss`` (``train_loss`` without a validation split);
        ``"one_cycle"`` (:class:`skdeep.callbacks.OneCycleLR`, torch's ``OneCycleLR``) rises
        from ``learning_rate / 25`` to ``learning_rate`` over the first 30% of the steps of
        the ``max_epochs``, then falls along a cosine to ``learning_rate / 2.5e5``;
        ``"cosine"`` (:class:`skdeep.callbacks.CosineDecay`, torch's ``CosineAnnealingLR``)
        falls from ``learning_rate`` to 0 along a half cosine over the ``max_epochs``, without
        warm-up (``lr_schedule=CosineDecay(warmup_fraction=0.05)`` adds a linear one). Both
        are set at every step and span ``max_epochs`` epochs of the first epoch's number of
        batches; early stopping ends them where it stops, and a warm start, ``partial_fit``
        or a resumed checkpoint continues them at the step where they stood (past their end,
        the rate of their last step is kept, with a warning). A callback (e.g.
        :class:`skdeep.callbacks.CyclicLR`) is used as given, on a copy. The rate of each
        epoch is in ``history_`` as ``lr`` (its first step's), and a per-step schedule's rate
        of each step in the batches (``history_[-1, "batches", 0, "lr"]``).
    batch_size_scaling : {"sqrt", "linear"} or None, default=None
        Scale ``learning_rate`` with the batch size when training starts:
        ``learning_rate * (batch_size / 32) ** p``, ``p`` 1/2 or 1, so that a search over
        ``batch_size`` follows the rule (:class:`skdeep.callbacks.BatchSizeScaling`).
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks; each fit works on its own copy.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout and the validation split. An int makes a fit
        repeatable on the CPU.
    device : {"auto", "cpu", "cuda"} or a torch device string, default="auto"
        Where the model and the data live during the fit; ``"auto"`` is CUDA when available.
    compile : {"auto", "cuda_graph", "none"}, default="auto"
        On a CUDA device, capture the forward pass, backward pass and optimizer step once in
        a CUDA graph and replay it for each full batch (the last, partial batch of an epoch
        runs eagerly), which removes most of the per-batch kernel-launch cost of a small
        network. ``"auto"`` does so when the fit allows it (optimizer ``"adam"`` or
        ``"adamw"``, no callback implementing ``on_grad_computed``; see
        ``docs/performance.md``) and otherwise trains eagerly, printing why when
        ``verbose``; ``"cuda_graph"`` does the same but warns when it cannot capture;
        ``"none"`` never captures. On a CPU every value trains eagerly (with a warning for
        ``"cuda_graph"``, not an error, so that one script runs on machines with and without
        a GPU): graphs only remove GPU launch costs. ``net_.train_step_mode_`` and
        ``net_.eager_reason_`` tell what the last fit did. Not ``torch.compile``.
    n_threads : "auto" or int >= 1, default="auto"
        torch's intra-op CPU threads during ``fit`` and ``predict``; the caller's count is
        restored afterwards, also on error. An int fixes it (with ``random_state``, results
        are then repeatable bit for bit). ``"auto"`` times real training steps at 1, 2, 4 ...
        threads, up to what the process may use (``OMP_NUM_THREADS``, a joblib worker's
        limit, ``threadpoolctl``, the CPU affinity mask, torch's current count), early in the
        fit, trains with the fastest and measures again when the step time drifts; a fit too
        short for the probe to pay (fewer than 50 times its steps) trains at that limit.
        Thread counts can change a network's last bits (convolutions, not MLPs, on the
        machines measured), so ``"auto"`` repeats bit for bit only where the counts do not
        matter or the choice is the same; see ``docs/performance.md``.
    warm_start : bool, default=False
        When True, ``fit`` continues from the previous fit's weights for ``max_epochs`` more
        epochs instead of starting again.
    verbose : int, default=0
        0 prints nothing; 1 prints one Keras-like line per epoch
        (``Epoch 3/20 - 0.8s - loss: 0.213 - val_loss: 0.245 - val_acc: 0.944``); 2 prints
        skorch's full table of the history, coloured only on a terminal."""

CLASSIFIER_PARAMETERS_DOC = """\
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss, as in scikit-learn.
    label_smoothing : float in [0, 1), default=0.0
        Label smoothing of the cross-entropy loss, torch's
        ``cross_entropy(label_smoothing=...)``: with ``k`` classes, the target of each sample
        is ``1 - label_smoothing + label_smoothing / k`` for its class and
        ``label_smoothing / k`` for the others, which keeps the network from growing
        ever more confident logits. Multilabel targets (a sigmoid per label) are smoothed per
        label towards 1/2, ``y * (1 - label_smoothing) + label_smoothing / 2``, as in Keras'
        ``BinaryCrossentropy``. ``train_loss`` and ``valid_loss`` are the smoothed loss
        (``early_stopping_monitor="valid_acc"`` stops on the accuracy instead). 0 disables
        it."""

AUGMENTATION_PARAMETER_DOC = """\
    augmentation : "standard", dict or None, default=None
        Random shifts, rotations and scalings of the training images, drawn anew for each
        image of each batch, so that every epoch sees other versions of them: a dict with any
        of ``"shift"`` (the largest shift along each axis, in pixels), ``"rotation"`` (the
        largest rotation, in degrees, at most 180) and ``"scale"`` (the largest relative
        change of size, below 1), each drawn uniformly between minus and plus that amount
        about the image's centre (a missing key is 0); ``"standard"`` is
        ``{"shift": 2, "rotation": 10, "scale": 0.1}``, the classic ranges for 28x28 digits.
        Pixels moved in from outside the image are 0. Applied on the device to each training
        batch before the forward pass, never to the validation rows, ``predict``, ``score``
        or an ONNX export; seeded by ``random_state``. A fit with it trains eagerly, not in a
        CUDA graph, and ``StackedSearchCV`` fits such candidates one at a time. Checked when
        ``fit`` starts. See ``docs/callbacks.md``."""

FITTED_ATTRIBUTES_DOC = """\
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the torch module.
    history_ : skorch.History
        One record per epoch: ``train_loss`` (and ``train_acc`` for classifiers: the running
        accuracy of the epoch's training batches), ``valid_loss`` (and ``valid_acc``) when
        validating, ``dur`` and ``epoch_time`` (seconds), ``lr``, ``peak_rss_mb`` (the fit's
        own peak), ``memory_increase_mb`` (that peak above the memory at the fit's start),
        ``peak_cuda_mb`` (on GPU) and ``grad_norm_<layer>``
        (:class:`skdeep.callbacks.EpochMetrics`), ``n_threads`` (CPU threads at the epoch's
        end) and, in an epoch where ``n_threads="auto"`` timed the candidates,
        ``thread_probe`` (``{threads: mean seconds per step}``). See :meth:`history_frame`
        and :meth:`plot_history`.
    n_threads_ : int
        The CPU threads the last fit ended with (``predict`` uses them under ``"auto"``).
    n_iter_ : int
        Epochs trained so far.
    diverged_ : bool
        Whether training diverged (with ``on_divergence="stop"`` or ``"continue"``; under
        ``"raise"`` a diverged fit raises instead).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names seen in ``fit``, when ``X`` was a DataFrame with string column names."""

EMBEDDING_ATTRIBUTES_DOC = """\
    embedding_bins_ : list of ndarray of float32
        With ``numeric_embedding="piecewise_linear"``: the bin edges of each feature, computed
        by the first fit (``partial_fit`` and ``warm_start`` keep them) on its training rows."""


def fill_doc(cls: type) -> type:
    """Class decorator: substitute the shared parameter docs into ``cls.__doc__``."""
    # The placeholders sit at the docstring's indentation, which the templates' first lines
    # already carry.
    cls.__doc__ = cls.__doc__.format(
        architecture_parameters=ARCHITECTURE_PARAMETERS_DOC.lstrip(),
        layer_parameters=LAYER_PARAMETERS_DOC.lstrip(),
        embedding_parameters=EMBEDDING_PARAMETERS_DOC.lstrip(),
        training_parameters=TRAINING_PARAMETERS_DOC.lstrip(),
        classifier_parameters=CLASSIFIER_PARAMETERS_DOC.lstrip(),
        augmentation_parameter=AUGMENTATION_PARAMETER_DOC.lstrip(),
        fitted_attributes=FITTED_ATTRIBUTES_DOC.lstrip(),
        embedding_attributes=EMBEDDING_ATTRIBUTES_DOC.lstrip(),
    )
    return cls
