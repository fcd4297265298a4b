"""Device choice as a pure function of the machine, so MPS and CUDA are checked here on a CPU-only machine."""

from __future__ import annotations

import pytest

from wechat_twin.errors import UsageError
from wechat_twin.server.engines.device import (
    Accelerators,
    Device,
    pick_device,
    serving_dtype,
    training_dtype_name,
)

CPU_ONLY = Accelerators()
MAC = Accelerators(mps=True)
CUDA_BF16 = Accelerators(cuda=True, cuda_bf16=True)
OLD_CUDA = Accelerators(cuda=True)


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (CPU_ONLY, Device.CPU),
        (MAC, Device.MPS),
        (CUDA_BF16, Device.CUDA),
        (Accelerators(cuda=True, mps=True), Device.CUDA),
    ],
)
def test_auto_prefers_cuda_then_mps_then_cpu(found, expected):
    assert pick_device(Device.AUTO, found) is expected


def test_an_explicit_device_overrides_auto():
    assert pick_device(Device.CPU, CUDA_BF16) is Device.CPU
    assert pick_device(Device.MPS, MAC) is Device.MPS


@pytest.mark.parametrize(("device", "fragment"), [(Device.CUDA, "no CUDA GPU"), (Device.MPS, "no Apple MPS")])
def test_asking_for_a_missing_device_is_a_usage_error(device, fragment):
    with pytest.raises(UsageError, match=fragment) as raised:
        pick_device(device, CPU_ONLY)
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("device", "found", "serving", "training"),
    [
        (Device.CPU, CPU_ONLY, "float32", "float32"),
        (Device.MPS, MAC, "float16", "float32"),
        (Device.CUDA, CUDA_BF16, "bfloat16", "bfloat16"),
        (Device.CUDA, OLD_CUDA, "float16", "float32"),
    ],
)
def test_dtype_defaults_follow_the_device(device, found, serving, training):
    assert serving_dtype(device, found) == serving
    assert training_dtype_name(device, found) == training
