"""hfopt AdamW under torch.distributed: DDP, ZeroRedundancyOptimizer and FSDP2 on 2 gloo processes.

Each test starts this file as a script in two processes (ranks 0 and 1 on 127.0.0.1, each on
half of the batch) and checks that rank 0's final weights equal one process trained on the full
batch. The script part is at the bottom.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
import torch

HYPER = dict(lr=5e-2, weight_decay=0.1, betas=(0.9, 0.99), eps=1e-6)
STEPS = 4


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))


def _batch():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 6, generator=gen), torch.randn(8, 4, generator=gen)


def _train(net, opt, x, y):
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()


def _single_process_weights():
    from hfopt_adamw import AdamW

    model = _model()
    _train(model, AdamW(model.parameters(), **HYPER), *_batch())
    return {name: p.detach() for name, p in model.named_parameters()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "zero", "fsdp2"])
def test_two_gloo_processes_train_to_the_single_process_weights(mode, tmp_path):
    out = tmp_path / "weights.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    loopback = [name for _, name in socket.if_nameindex() if name in ("lo", "lo0")]
    if loopback and "GLOO_SOCKET_IFNAME" not in env:
        env["GLOO_SOCKET_IFNAME"] = loopback[0]  # keep gloo on the loopback interface
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, __file__, mode, str(rank), "2", port, str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in range(2)]
    logs = []
    for proc in procs:
        try:
            logs.append(proc.communicate(timeout=120)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
    assert [p.returncode for p in procs] == [0, 0], "\n".join(logs)
    weights = torch.load(out)
    expected = _single_process_weights()
    assert set(weights) == set(expected)
    for name, value in expected.items():
        assert torch.allclose(weights[name], value, rtol=1e-5, atol=1e-6), name
    # and the run really moved the weights
    assert not torch.allclose(expected["0.weight"], _model()[0].weight.detach())


def _run_rank(mode: str, rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    import hfopt_adamw.optimizer as optimizer_module
    from hfopt_adamw import AdamW

    used = []  # which implementation each bucket went to: the fused kernel, DTensors included
    fused = optimizer_module._IMPLEMENTATIONS["fused"]
    optimizer_module._IMPLEMENTATIONS["fused"] = lambda params, *a, **k: (
        used.append(type(params[0]).__name__), fused(params, *a, **k))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))
    try:
        model = _model()
        x, y = (t.chunk(world)[rank] for t in _batch())
        if mode == "ddp":
            net = DDP(model)
            opt = AdamW(net.parameters(), **HYPER)
        elif mode == "zero":
            from torch.distributed.optim import ZeroRedundancyOptimizer

            net = DDP(model)
            opt = ZeroRedundancyOptimizer(net.parameters(), optimizer_class=AdamW, **HYPER)
        elif mode == "fsdp2":
            from torch.distributed.fsdp import fully_shard

            for layer in model:
                if isinstance(layer, torch.nn.Linear):
                    fully_shard(layer)
            net = fully_shard(model)
            opt = AdamW(model.parameters(), **HYPER)
        else:
            raise ValueError(mode)
        _train(net, opt, x, y)
        if mode == "fsdp2":
            weights = {name: p.full_tensor().detach() for name, p in model.named_parameters()}
            assert all(type(s["exp_avg"]).__name__ == "DTensor" for s in opt.state.values())
        else:
            weights = {name: p.detach() for name, p in model.named_parameters()}
        assert used and set(used) == {"DTensor" if mode == "fsdp2" else "Parameter"}, used
        if rank == 0:
            torch.save(weights, out)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _mode, _rank, _world, _port, _out = sys.argv[1:6]
    _run_rank(_mode, int(_rank), int(_world), int(_port), _out)
    # skip interpreter teardown: gloo's background threads occasionally abort in static destructors
    # ("terminate called without an active exception") after a clean run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
