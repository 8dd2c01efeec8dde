"""Test-session settings shared by every test file."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny networks gain nothing from intra-op threads, and lose much when cores are shared.

    Tests that need another count (worker processes of a search) get theirs from joblib.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def quiet_optuna():
    """Optuna logs every trial at INFO; the search tests keep only its warnings."""
    optuna = pytest.importorskip("optuna")
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(previous)


@pytest.fixture(autouse=True)
def fresh_thread_memory():
    """Each test starts as a new process would: no thread count remembered from another test."""
    from skdeep.utils import threads

    threads.REMEMBERED.clear()
    yield
    threads.REMEMBERED.clear()


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt, as in a terminal, even where the test run was started
    with SIGINT ignored (a background job of a non-interactive shell)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)

