"""One CPU thread: the networks' tests share two cores with other work, and bit-exact
comparisons with the peer fixtures need single-threaded float32 reductions."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
