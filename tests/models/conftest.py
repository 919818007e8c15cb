"""The model tests run with one torch thread: results must not depend on how many threads share the work,
and two threads on this project's two shared cores were many times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
