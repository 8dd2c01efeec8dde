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
