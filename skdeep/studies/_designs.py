"""The fourteen studies: each question, the setting in which its effect shows, its variants
(from ``_study_variants``), and the expectations written before running, each with the rule
that reads it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import _variants as variants
from ._reading import Collapses, Expectation, Higher, Lower, Similar, Turns
from ._variants import SGD, Variant


@dataclass(frozen=True)
class Study:
    """A question about training, the design that shows its answer, and what we expect.

    Parameters
    ----------
    name, question : str
    design : str
        The setting shared by every variant and why it makes the effect visible.
    variants : callable
        ``variants(n_features, n_classes) -> [Variant, ...]``.
    expectations : list of Expectation
        Written before running; each is read against the results by its rule.
    base : dict
        Network parameters every variant starts from (the variant's own override them).
    max_epochs : int
        Epochs of every run unless the caller gives others.
    standardize : bool
        Whether MLPs see standardised features (False: the values as given, e.g. pixels
        in [0, 1]).
    columns : list of str
        The measures the report's table shows (see ``_study_reading.MEASURES``).
    minutes : float
        About how many minutes the docs' run took (5,000 MNIST images, 2 seeds, on 2 CPU
        cores shared with other jobs, load average 4 to 12).
    """

    name: str
    question: str
    design: str
    variants: Callable[[int, int], list[Variant]]
    expectations: list[Expectation]
    base: dict = field(default_factory=dict)
    max_epochs: int = 10
    standardize: bool = True
    columns: tuple[str, ...] = ("test_accuracy", "epoch_time", "n_params")
    minutes: float = 2.0


def expect(*texts_and_rules) -> list[Expectation]:
    """The expectations of a study from ``text, rule, text, rule, ...``: each sentence, then
    the rule that reads it (see ``_study_reading``)."""
    texts, rules = texts_and_rules[::2], texts_and_rules[1::2]
    if len(texts) != len(rules):
        raise TypeError("expect() takes sentences and rules in pairs.")
    return [Expectation(text, rule) for text, rule in zip(texts, rules, strict=True)]


def _studies() -> list[Study]:
    return [
        Study(
            "depth",
            "How deep should the network be?",
            "ReLU layers of 64 units trained by Adam (lr 1e-3) for 10 epochs: enough to fit the "
            "training set, so what depth adds beyond one hidden layer shows.",
            variants.depth,
            expect(
                "One hidden layer beats none (a linear model).",
                Higher("test_accuracy", "1 x 64", "0 x 64"),
                "Five hidden layers add less than a point over one.",
                Similar("test_accuracy", "5 x 64", "1 x 64", within=0.01),
                "A single layer as large as the 5-layer net is as good as it.",
                Similar("test_accuracy", "1 x same size as 5 x 64", "5 x 64", within=0.01),
                "The deepest net overfits within the epochs: its validation loss turns.",
                Turns("5 x 64"),
            ),
            columns=("test_accuracy", "best_epoch", "final_valid_loss", "epoch_time", "n_params"),
            minutes=3,
        ),
        Study(
            "width",
            "How wide should one hidden layer be?",
            "One ReLU hidden layer trained by Adam (lr 1e-3) for 8 epochs.",
            variants.width,
            expect(
                "Accuracy rises from 16 to 256 units.",
                Higher("test_accuracy", "256 units", "16 units"),
                "It saturates: 512 units are within half a point of 256.",
                Similar("test_accuracy", "512 units", "256 units", within=0.005),
                "Time per epoch grows with the parameter count: 512 units take at least "
                "1.5 times as long as 64.",
                Higher("epoch_time", "512 units", "64 units", by=1.5, ratio=True),
            ),
            max_epochs=8,
            minutes=2.5,
        ),
        Study(
            "init",
            "Which weight initialisation for ReLU and for tanh?",
            "Six hidden layers of 128 units under plain SGD (lr 0.01, no momentum) for 2 epochs: "
            "without an adaptive optimizer, the scale of the initial weights decides whether "
            "the signal and its gradient cross six layers. Adam runs of the ReLU net are the "
            "contrast that erases most of it.",
            variants.init,
            expect(
                "Under SGD, He initialisation trains a ReLU net faster than Glorot.",
                Higher("test_accuracy", "SGD relu / he_normal", "SGD relu / glorot_normal"),
                "Under SGD, Glorot suits tanh at least as well as He.",
                Higher(
                    "test_accuracy",
                    "SGD tanh / glorot_normal",
                    "SGD tanh / he_normal",
                    by=-0.01,
                ),
                "The fixed-scale random_normal (std 0.05) stays near chance under SGD.",
                Collapses("SGD relu / random_normal"),
                "Its first-layer gradient is over 10 times smaller than He's.",
                Higher(
                    "first_grad_norm",
                    "SGD relu / he_normal",
                    "SGD relu / random_normal",
                    by=10,
                    ratio=True,
                ),
                "Adam erases the gap: He and Glorot within a point.",
                Similar(
                    "test_accuracy",
                    "Adam relu / he_normal",
                    "Adam relu / glorot_normal",
                    within=0.01,
                ),
            ),
            base={"hidden_layer_sizes": (128,) * 6, "learning_rate": 0.01, **SGD},
            max_epochs=2,
            columns=("test_accuracy", "first_grad_norm", "grad_ratio", "epoch_time"),
            minutes=2,
        ),
        Study(
            "activation",
            "Which activation, and how do gradients fare with depth?",
            "Layers of 64 units at depths 1, 3 and 6 under plain SGD (lr 0.05, no momentum), "
            "Glorot initialisation, 3 epochs: sigmoid's small derivative (at most 1/4) shrinks "
            "the gradient at every layer it crosses, which an adaptive optimizer would hide.",
            variants.activation,
            expect(
                "Six sigmoid layers learn far less than one in the same epochs.",
                Higher("test_accuracy", "sigmoid, 1 layer", "sigmoid, 6 layers", by=0.05),
                "Their gradient vanishes toward the input: the first layer's norm is under "
                "a tenth of the last's.",
                Lower("grad_ratio", "sigmoid, 6 layers", 0.1),
                "ReLU keeps the first layer's gradient within a factor 10 of the last's.",
                Higher("grad_ratio", "relu, 6 layers", 0.1),
                "At depth 6, ReLU and its variants beat sigmoid.",
                Higher("test_accuracy", "relu, 6 layers", "sigmoid, 6 layers", by=0.05),
                "LeakyReLU and ELU match ReLU within a point at depth 3.",
                Similar("test_accuracy", "elu, 3 layers", "relu, 3 layers", within=0.01),
            ),
            base={"learning_rate": 0.05, **SGD},
            max_epochs=3,
            columns=("test_accuracy", "first_grad_norm", "grad_ratio", "epoch_time"),
            minutes=2,
        ),
        Study(
            "batch-norm",
            "What does batch normalisation change?",
            "Six hidden layers of 128 units, 2 epochs: under plain SGD (lr 0.01) a sigmoid or "
            "Glorot-initialised ReLU net is slow to start, which batch normalisation should "
            "fix; under Adam the gain should be smaller. Batch normalisation costs time.",
            variants.batch_norm,
            expect(
                "Batch norm rescues the sigmoid net under SGD (more than 10 points).",
                Higher("test_accuracy", "SGD sigmoid + batch norm", "SGD sigmoid", by=0.1),
                "It speeds up the ReLU net under SGD.",
                Higher("test_accuracy", "SGD relu + batch norm", "SGD relu"),
                "Under Adam the sigmoid net gains less than 5 points from it.",
                Similar("test_accuracy", "Adam sigmoid + batch norm", "Adam sigmoid", within=0.05),
                "An epoch with batch norm takes longer.",
                Higher("epoch_time", "SGD relu + batch norm", "SGD relu", by=1.0, ratio=True),
            ),
            base={"hidden_layer_sizes": (128,) * 6, "learning_rate": 0.01},
            max_epochs=2,
            columns=("test_accuracy", "first_grad_norm", "grad_ratio", "epoch_time", "n_params"),
            minutes=1.5,
        ),
        Study(
            "regularization",
            "What do L1, L2 and dropout change?",
            "Two hidden layers of 256 units trained by Adam (lr 1e-3) for 8 epochs on a few "
            "thousand images: large enough to overfit, so the gap between training and test "
            "accuracy is there to be narrowed.",
            variants.regularization,
            expect(
                "Without regularization the net overfits: training accuracy exceeds test "
                "accuracy by over 2 points.",
                Higher("accuracy_gap", "none", 0.02),
                "Dropout 0.5 narrows that gap.",
                Lower("accuracy_gap", "dropout 0.5", "none"),
                "L2 1e-3 narrows it.",
                Lower("accuracy_gap", "L2 0.001", "none"),
                "Strong L2 (1e-2) underfits: a higher training loss than none.",
                Higher("final_train_loss", "L2 0.01", "none"),
                "Light regularization costs no accuracy: L2 1e-4 within a point of none.",
                Similar("test_accuracy", "L2 0.0001", "none", within=0.01),
            ),
            base={"hidden_layer_sizes": (256, 256)},
            max_epochs=8,
            columns=(
                "test_accuracy",
                "train_accuracy",
                "accuracy_gap",
                "final_train_loss",
                "final_valid_loss",
            ),
            minutes=4,
        ),
        Study(
            "dropout",
            "How much dropout?",
            "Two hidden layers of 256 units trained by Adam (lr 1e-3) for 8 epochs, so that "
            "the net without dropout overfits a few thousand images.",
            variants.dropout,
            expect(
                "Without dropout, training accuracy exceeds test accuracy by over 2 points.",
                Higher("accuracy_gap", "dropout 0", 0.02),
                "Dropout 0.5 narrows the gap.",
                Lower("accuracy_gap", "dropout 0.5", "dropout 0"),
                "Its validation loss ends lower (it overfits less late in training).",
                Lower("final_valid_loss", "dropout 0.5", "dropout 0"),
                "10% dropout (the practical's) costs no test accuracy.",
                Higher("test_accuracy", "dropout 0.1", "dropout 0", by=-0.005),
            ),
            base={"hidden_layer_sizes": (256, 256)},
            max_epochs=8,
            columns=(
                "test_accuracy",
                "train_accuracy",
                "accuracy_gap",
                "best_epoch",
                "final_valid_loss",
            ),
            minutes=3,
        ),
        Study(
            "epochs",
            "How does training behave over many epochs?",
            "Two hidden layers of 256 units trained by Adam (lr 1e-3) for 40 epochs on a few "
            "thousand images, against the same net with dropout and with early stopping "
            "(patience 5).",
            variants.epochs,
            expect(
                "Validation loss reaches its lowest early and turns upward while training "
                "loss keeps falling.",
                Turns("40 epochs"),
                "Dropout delays the turn: its best epoch comes later.",
                Higher("best_epoch", "40 epochs, dropout 0.5", "40 epochs"),
                "Test accuracy hardly suffers from the extra epochs: early stopping is "
                "within a point of 40 epochs.",
                Similar("test_accuracy", "early stopping (patience 5)", "40 epochs", 0.01),
                "Early stopping saves most of the time: 40 epochs take over twice as long.",
                Higher("fit_time", "40 epochs", "early stopping (patience 5)", by=2, ratio=True),
            ),
            base={"hidden_layer_sizes": (256, 256)},
            max_epochs=40,
            columns=(
                "test_accuracy",
                "best_epoch",
                "best_valid_loss",
                "final_valid_loss",
                "fit_time",
            ),
            minutes=6.5,
        ),
        Study(
            "learning-rate",
            "Which learning rate, from too small to divergent?",
            "Three hidden layers of 128 ReLU units trained by Adam for 5 epochs on the pixel "
            "values as given (not standardised), the course's setting, where too large a rate "
            "has nothing to stop it.",
            variants.learning_rate,
            expect(
                "1e-5 is too slow: over 5 points below 1e-3 after the epochs given.",
                Higher("test_accuracy", "lr 0.001", "lr 1e-05", by=0.05),
                "1e-3 is within a point of 1e-4 or better.",
                Higher("test_accuracy", "lr 0.001", "lr 0.0001", by=-0.01),
                "lr 0.1 collapses or blows up.",
                Collapses("lr 0.1"),
                "lr 1 collapses or blows up.",
                Collapses("lr 1"),
            ),
            base={"hidden_layer_sizes": (128,) * 3},
            max_epochs=5,
            standardize=False,
            columns=("test_accuracy", "best_valid_loss", "max_valid_loss", "final_valid_loss"),
            minutes=3,
        ),
        Study(
            "lr-schedule",
            "Does a learning-rate schedule help?",
            "Two hidden layers of 128 ReLU units trained by Adam at a high rate (1e-2) for 8 "
            "epochs: a constant rate keeps the loss noisy, a schedule ends lower.",
            variants.lr_schedule,
            expect(
                "Exponential decay ends with a lower validation loss than a constant rate.",
                Lower("final_valid_loss", "exponential decay", "constant"),
                "It is at least as accurate.",
                Higher("test_accuracy", "exponential decay", "constant", by=-0.005),
                "Cycling ends with a lower validation loss than a constant rate.",
                Lower("final_valid_loss", "cyclic", "constant"),
            ),
            base={"hidden_layer_sizes": (128, 128), "learning_rate": 1e-2},
            max_epochs=8,
            columns=("test_accuracy", "best_valid_loss", "final_valid_loss", "max_valid_loss"),
            minutes=3,
        ),
        Study(
            "batch-size",
            "How does batch size trade accuracy against time and memory?",
            "One hidden layer of 128 ReLU units trained by Adam (lr 1e-3 at batch 32) for 5 "
            "epochs: the same epochs, so a larger batch makes fewer updates; the sqrt and "
            "linear rules raise the rate with the batch.",
            variants.batch_size,
            expect(
                "An epoch at batch 1024 is at least twice as fast as at batch 16.",
                Higher("epoch_time", "batch 16", "batch 1024", by=2, ratio=True),
                "After the same epochs, batch 1024 is less accurate than batch 64.",
                Lower("test_accuracy", "batch 1024", "batch 64"),
                "The sqrt rule wins part of it back.",
                Higher("test_accuracy", "batch 1024 + sqrt lr", "batch 1024"),
                "The fit's memory grows with the batch.",
                Higher("memory_increase_mb", "batch 1024", "batch 16"),
            ),
            base={"hidden_layer_sizes": (128,)},
            max_epochs=5,
            columns=(
                "test_accuracy",
                "epoch_time",
                "fit_time",
                "memory_increase_mb",
                "peak_memory_mb",
            ),
            minutes=1,
        ),
        Study(
            "optimizer",
            "Which optimizer?",
            "Two hidden layers of 128 ReLU units for 5 epochs, each optimizer at its customary "
            "learning rate.",
            variants.optimizer,
            expect(
                "Plain SGD is the slowest: below SGD with momentum.",
                Lower("test_accuracy", "sgd", "sgd + momentum"),
                "Momentum closes most of the gap: within a point of Adam.",
                Similar("test_accuracy", "sgd + momentum", "adam", within=0.01),
                "Adam and NAdam are within a point of each other.",
                Similar("test_accuracy", "nadam", "adam", within=0.01),
            ),
            base={"hidden_layer_sizes": (128, 128)},
            max_epochs=5,
            columns=("test_accuracy", "best_valid_loss", "epoch_time"),
            minutes=3.5,
        ),
        Study(
            "cnn-architecture",
            "Which convolution filters and kernel sizes?",
            "LeNet-5's layer sequence (padding 'same') trained by Adam (lr 1e-3) for 2 epochs.",
            variants.cnn_architecture,
            expect(
                "3x3 kernels match 5x5 within a point.",
                Similar("test_accuracy", "(6, 16) 3x3", "LeNet-5 (6, 16) 5x5", within=0.01),
                "More filters cost time: (32, 64) takes at least twice LeNet-5's epoch.",
                Higher("epoch_time", "(32, 64) 3x3", "LeNet-5 (6, 16) 5x5", by=2, ratio=True),
                "More filters help while the data lasts: (32, 64) beats (6, 16) 3x3.",
                Higher("test_accuracy", "(32, 64) 3x3", "(6, 16) 3x3"),
            ),
            max_epochs=2,
            columns=("test_accuracy", "epoch_time", "n_params"),
            minutes=6,
        ),
        Study(
            "architecture",
            "Perceptron, shallow MLP, deep MLP or LeNet-5?",
            "The course's ladder on the same images, each trained by Adam (lr 1e-3) for 4 "
            "epochs: the MLPs see standardised pixels, LeNet-5 the images.",
            variants.architecture,
            expect(
                "A hidden layer beats the perceptron.",
                Higher("test_accuracy", "shallow MLP 1 x 128", "perceptron (no hidden layer)"),
                "Depth adds little: the deep MLP within a point of the shallow one.",
                Similar("test_accuracy", "deep MLP 4 x 128", "shallow MLP 1 x 128", within=0.01),
                "LeNet-5 beats every MLP.",
                Higher("test_accuracy", "LeNet-5", "deep MLP 4 x 128"),
                "With fewer parameters than the shallow MLP.",
                Lower("n_params", "LeNet-5", "shallow MLP 1 x 128"),
                "But it costs the most time per epoch.",
                Higher("epoch_time", "LeNet-5", "deep MLP 4 x 128", by=1, ratio=True),
            ),
            max_epochs=4,
            columns=("test_accuracy", "epoch_time", "n_params"),
            minutes=4,
        ),
    ]


STUDIES: dict[str, Study] = {study.name: study for study in _studies()}
