"""Batch jobs (collection and evaluation episodes) on local worker processes or on a Ray cluster, behind one interface.

    with run_jobs(work, jobs, workers, initializer, initargs, backend) as results:
        for result in results: ...          # work(job) for every job, in job order

`local` (the default) is a spawned `multiprocessing` pool on this machine; `ray` runs one Ray actor
(1 CPU) per worker on the cluster at `address`, each calling `initializer(*initargs)` once, like a pool
worker. `work` and `initializer` must be module-level functions (they are pickled by reference, so every
Ray node needs the same vlaforge installed). Results come back in job order on either backend, so
commands whose jobs carry their own seeds write the same output wherever they ran. Ray is an optional
extra, imported only when asked for. Not to be confused with `vlaforge.control.executor` (chunk execution).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
from typing import Any, Callable, Iterable, Iterator, TypeVar

from vlaforge.errors import BackendError, ConfigError, MissingExtra

BACKENDS = ("local", "ray")
INSTALL = "pip install -e '.[ray]'  (from a vlaforge checkout; or pip install 'vlaforge[ray]')"

J = TypeVar("J")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class Backend:
    """Where batch jobs run: `local` processes on this machine, or `ray` at `address` ("auto", "HOST:PORT"; None joins
    $RAY_ADDRESS if set, else starts a private Ray instance on this machine for the duration of the command)."""

    name: str = "local"
    address: str | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ConfigError(f"unknown --backend {self.name!r}; choose from {', '.join(BACKENDS)}")
        if self.address is not None and self.name != "ray":
            raise ConfigError(f"--address {self.address} applies to --backend ray only; add --backend ray or drop --address")

    def describe(self) -> str:
        """'local', 'ray' (a private instance) or 'ray@ADDRESS'."""
        return f"ray@{self.address}" if self.address else self.name


LOCAL = Backend()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --backend and --address to a command that runs batch jobs."""
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="where the workers run: local processes on this machine (default) or a Ray cluster "
                             "(needs pip install -e '.[ray]'; see docs/scale.md)")
    parser.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                        help="--backend ray only: the cluster to join ('auto': the one `ray start --head` runs on this machine); "
                             "default: $RAY_ADDRESS if set, else a private Ray instance on this machine for this command")


def from_args(args: argparse.Namespace) -> Backend:
    """The Backend named by --backend/--address."""
    return Backend(args.backend, args.address)


@contextlib.contextmanager
def run_jobs(work: Callable[[J], R], jobs: list[J], workers: int, initializer: Callable[..., None] | None = None,
             initargs: tuple = (), backend: Backend = LOCAL) -> Iterator[Iterator[R]]:
    """Yield an iterator over `work(job)` for each of `jobs`, in job order, computed by min(workers, len(jobs)) workers
    that each ran `initializer(*initargs)` first; the workers stop when the block ends."""
    n = max(1, min(workers, len(jobs)))
    if backend.name == "local":
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(n, initializer=initializer, initargs=initargs) as pool:
            yield pool.imap(work, jobs)
        return
    with _RayPool(n, initializer, initargs, backend.address) as pool:
        yield pool.imap(work, jobs)


def require_ray() -> Any:
    """The imported `ray` package, or MissingExtra saying which pip command installs it."""
    try:
        import ray
    except ImportError as e:
        raise MissingExtra(f"--backend ray needs the ray extra, which is not installed ({e}); run: {INSTALL}") from None
    return ray


class _Worker:
    """One Ray actor: the pool worker's initializer once, then jobs one at a time."""

    def __init__(self, initializer: Callable[..., None] | None, initargs: tuple) -> None:
        if initializer is not None:
            initializer(*initargs)

    def run(self, work: Callable[[Any], Any], index: int, job: Any) -> tuple[int, Any]:
        return index, work(job)


class _RayPool:
    """`workers` actors of 1 CPU each, fed by Ray's ActorPool as they free up; results re-ordered to job order."""

    def __init__(self, workers: int, initializer: Callable[..., None] | None, initargs: tuple, address: str | None) -> None:
        self.ray = ray = require_ray()
        self.owns = not ray.is_initialized()  # a caller (a notebook, a test) that already joined a cluster keeps it
        if self.owns:
            try:
                if address is None and not os.environ.get("RAY_ADDRESS"):
                    # "local": a new instance even when `ray start` runs here; no dashboard to start and serve
                    ray.init(address="local", include_dashboard=False)
                else:
                    ray.init(address=address)
            except ConnectionError as e:
                raise BackendError(f"could not join a Ray cluster at {address or os.environ.get('RAY_ADDRESS')} ({e}); start one with `ray start --head`, "
                                   "or drop --address to start a private Ray on this machine; a cluster with token authentication "
                                   "also needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN) here (see docs/scale.md)") from None
        try:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if workers > cpus:  # actors beyond the cluster's CPUs would never start, and their jobs would wait forever
                raise ConfigError(f"--workers {workers} is more than the {cpus} CPUs of the Ray cluster; use --workers {max(cpus, 1)} "
                                  "or fewer, or add nodes (`ray start --address HEAD:6379` on each)")
            from ray.util import ActorPool

            actor = ray.remote(num_cpus=1)(_Worker)
            self.actors = [actor.remote(initializer, initargs) for _ in range(workers)]
            self.pool = ActorPool(self.actors)
        except BaseException:
            self.close()
            raise

    def imap(self, work: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        """work(job) for each job in job order, whichever actor ran it and whenever it finished."""
        from ray.exceptions import RayActorError, RayTaskError

        done: dict[int, Any] = {}
        nxt = 0
        try:
            for i, result in self.pool.map_unordered(lambda a, v: a.run.remote(work, *v), enumerate(jobs)):
                done[i] = result
                while nxt in done:
                    yield done.pop(nxt)
                    nxt += 1
        except RayTaskError as e:  # the worker's own exception (ConfigError, ...), as the local pool raises it
            cause = getattr(e, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        except RayActorError as e:
            raise BackendError(f"a Ray worker died (out of memory, a crash, or its node left the cluster): {e}") from None

    def close(self) -> None:
        """Stop the actors; leave Ray only if this pool joined it."""
        for a in getattr(self, "actors", []):
            self.ray.kill(a)
        if self.owns:
            self.ray.shutdown()

    def __enter__(self) -> "_RayPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
