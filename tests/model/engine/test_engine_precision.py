"""Layout and compilation do not change the numbers beyond float tolerance (CPU, fp32)."""
import copy

import pytest
import torch

from model.engine.precision import Precision, PrecisionError, resolve_device
from tests.model.engine.tiny_training import TinyNet

torch.set_num_threads(1)
CPU = torch.device("cpu")


def _grads(precision: Precision, net: TinyNet, x: torch.Tensor):
    model = precision.prepare_model(copy.deepcopy(net))
    with precision.autocast():
        loss = model(precision.prepare_input(x)).logsumexp(1).sum()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def _reference():
    torch.manual_seed(0)
    net, x = TinyNet(dropout=0.0), torch.randn(4, 3, 6, 8, 8)
    return net, x, _grads(Precision(CPU, "fp32", channels_last=False), net, x)


def test_cpu_defaults_to_fp32_and_fp16_needs_cuda():
    assert Precision(CPU).autocast_dtype is None
    assert not Precision(CPU).grad_scaler().is_enabled()
    with pytest.raises(PrecisionError, match="fp16"):
        Precision(CPU, "fp16")
    with pytest.raises(PrecisionError, match="job.device"):
        resolve_device("tpu")


def test_channels_last_3d_gives_the_same_loss_and_gradients():
    net, x, (loss, grads) = _reference()
    loss_cl, grads_cl = _grads(Precision(CPU, "fp32", channels_last=True), net, x)
    torch.testing.assert_close(loss_cl, loss, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads_cl, grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_stays_close_to_fp32():
    net, x, (loss, _) = _reference()
    loss_bf16, _ = _grads(Precision(CPU, "bf16", channels_last=False), net, x)
    torch.testing.assert_close(loss_bf16.float(), loss, rtol=2e-2, atol=2e-2)


@pytest.mark.slow
def test_torch_compile_gives_the_same_loss_and_gradients():
    net, x, (loss, grads) = _reference()
    loss_c, grads_c = _grads(Precision(CPU, "fp32", channels_last=False, compile=True), net, x)
    torch.testing.assert_close(loss_c, loss, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads_c, grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_describe_device_on_the_cpu():
    from model.engine.precision import cpu_kind, describe_device

    kind = cpu_kind()
    vendor, capability = kind.rsplit(" ", 1)
    assert vendor and capability == torch.backends.cpu.get_cpu_capability()
    assert describe_device(torch.device("cpu")) == f"cpu ({kind})"
