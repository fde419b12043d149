"""Past 2**31 elements: index arithmetic must be 64-bit (GPU only; uint8 keeps each tensor at
about 2 GiB)."""

import pytest
import torch

import gemforge
from conftest import served_count

pytestmark = pytest.mark.cuda

NEEDED_BYTES = 12 * 2**30
CHUNK = 2**26


@pytest.fixture
def room_on_gpu():
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    if free < NEEDED_BYTES:
        pytest.skip(f"needs {NEEDED_BYTES / 2**30:.0f} GiB of free GPU memory, "
                    f"has {free / 2**30:.1f}")
    yield
    torch.cuda.empty_cache()


def checksum(t: torch.Tensor) -> int:
    """Sum of all elements as int64, a chunk at a time (a whole int64 copy would not fit)."""
    flat = t.reshape(-1)
    return sum(int(flat[i:i + CHUNK].sum(dtype=torch.int64)) for i in range(0, flat.numel(), CHUNK))


def assert_same(result: torch.Tensor, expected: torch.Tensor):
    """Slices on both sides of element 2**31 and at the ends, the whole, and a checksum."""
    assert result.shape == expected.shape and result.dtype == expected.dtype
    flat, flat_expected = result.reshape(-1), expected.reshape(-1)
    for start in (0, 2**31 - 4096, 2**31, flat.numel() - 4096):
        torch.testing.assert_close(flat[start:start + 4096], flat_expected[start:start + 4096],
                                   rtol=0, atol=0, msg=lambda m, at=start: f"from {at}: {m}")
    assert torch.equal(result, expected)
    assert checksum(result) == checksum(expected)


def serve_add(a, b):
    with gemforge.use_gems(include=["add"], backends=["cuda"]), gemforge.collect_stats() as served:
        result = torch.add(a, b)
    assert served_count(served, "add.Tensor") == 1, served
    return result


def test_add_contiguous_past_int32(room_on_gpu):
    n = 2**31 + 4099
    a = torch.randint(0, 256, (n,), dtype=torch.uint8, device="cuda")
    b = torch.randint(0, 256, (n,), dtype=torch.uint8, device="cuda")
    result = serve_add(a, b)
    expected = torch.add(a, b)
    assert_same(result, expected)


def test_add_broadcast_past_int32(room_on_gpu):
    """The strided path: a row broadcast over 65537 x 32769 (> 2**31) elements."""
    a = torch.randint(0, 256, (65537, 32769), dtype=torch.uint8, device="cuda")
    b = torch.randint(0, 256, (32769,), dtype=torch.uint8, device="cuda")
    result = serve_add(a, b)
    expected = torch.add(a, b)
    assert_same(result, expected)
