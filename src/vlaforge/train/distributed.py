"""Multi-process data parallel through torchrun (DDP): gloo on CPU, nccl on CUDA."""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist

from vlaforge.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes of this job on this machine (they share its cores)

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, evaluates and writes checkpoints."""
        return self.rank == 0


def init(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if device.type == "cuda" and device.index is None and local_world > torch.cuda.device_count():
        raise ConfigError(f"{local_world} processes on this machine but {torch.cuda.device_count()} GPU(s): each process takes the GPU "
                          f"of its LOCAL_RANK; use --nproc_per_node {torch.cuda.device_count()} or --train.device cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), local_world)


def shutdown() -> None:
    """Leave the process group if we joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's value of `obj` on every rank."""
    if info.world <= 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
