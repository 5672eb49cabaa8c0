"""LeRobot ACT trained by LeRobot's own `lerobot-train` vs vlaforge's default policy: same data, same CPU budget, same seeds.

    bash benchmarks/lerobot_env.sh          # LeRobot 0.6.1 venv, with accelerate for lerobot-train
    python benchmarks/lerobot_act.py --serve-python LEROBOT_VENV_WITH_VLAFORGE/bin/python
    python benchmarks/lerobot_act.py --smoke --serve-python ...   # the whole path on a tiny dataset, in minutes

vlaforge's side is a finished `vlaforge demo --out` directory (default outputs/quality, the committed quality
result): its dataset (data/), training run (run/) and evaluation (eval/records.jsonl, one record per seeded episode).
Nothing under it is written: LeRobot trains on a copy of data/.

1. Budget: the CPU seconds vlaforge's training took. Its run records wall time and torch threads (metrics.jsonl),
   not CPU time, so the budget is the integral of threads over wall time: an upper bound (threads are not busy
   every second), which favours LeRobot.
2. `lerobot-train --policy.type act` (LeRobot's defaults: resnet18 backbone, dim 512, VAE, batch 8, lr 1e-5)
   with chunk_size 16 / n_action_steps 8 (vlaforge's chunk and execution horizon), on CPU, seeded with
   vlaforge's training seed. A short calibration run (not counted) measures CPU seconds per step, so that
   save_freq puts a checkpoint at least every ~8% of the budget. The real run's process tree (trainer and its
   data-loader workers) is read from /proc every 0.5 s and stopped when its CPU time reaches the budget; the
   newest complete checkpoint is the policy (older ones are deleted as new ones land).
3. `vlaforge serve --policy lerobot:CHECKPOINT/pretrained_model` (a Python with LeRobot and vlaforge's
   dependencies; this checkout's src/ goes first on its path) and `vlaforge eval --server` on vlaforge's tasks,
   splits and episode count, so the seeds are the same; `--executor naive` with no latency is plain chunk
   execution, LeRobot's own loop, and the served spec makes eval execute n_action_steps of each chunk.
4. Per split: success with Wilson intervals for both and McNemar's exact test on the paired (same-seed)
   episodes; recovery (success after a perturbation fired) the same way on the episodes where one fired for both.

ACT reads no instruction (no language input): on pick_place, where the instruction names the object and the bin,
it can only succeed where its guess matches. Pretraining is outside both budgets: ImageNet weights for ACT's
backbone are used when torchvision's cache has them (--backbone-weights auto; this machine cannot download them,
so here it starts from scratch), and vlaforge's default policy starts its grounding module from the weights shipped
in vlaforge (models/pretrained/grounding.json says what made them; recorded) and reads a frozen MiniLM; its CNN
encoder starts from scratch. --smoke: `vlaforge demo --quick` (6 episodes) for vlaforge's side, a
60 CPU-second budget, 2 episodes per split; it writes outputs/lerobot_act_smoke/result.json, not the docs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Contention, save  # noqa: E402

LEROBOT_VENV = Path.home() / ".cache" / "vlaforge" / "lerobot-0.6.1"  # benchmarks/lerobot_env.sh
CHUNK, EXECUTE = 16, 8  # vlaforge's default chunk and execution horizon (PolicyConfig.chunk / n_action_steps)
IMAGENET = "ResNet18_Weights.IMAGENET1K_V1"  # ACT's default backbone weights
IMAGENET_FILE = "resnet18-f37072fd.pth"  # what torchvision caches for them
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------- CPU accounting
def session_cpu_s(sid: int) -> float:
    """CPU seconds (user + system, own + reaped children) of every live process in session `sid` (/proc)."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session ...
        except OSError:  # exited meanwhile
            continue
        if int(fields[3]) == sid:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (all but idle and iowait)."""
    from vlaforge.runtime import cpu_seconds

    return cpu_seconds()[0]


def vlaforge_pretraining(model: dict[str, Any]) -> dict[str, Any] | None:
    """What made the shipped grounding weights a vlaforge run started from (compute outside its budget); None if it did not."""
    if not model.get("grounding") or model.get("grounding_init") != "pretrained":
        return None
    from vlaforge.models.pretrained import grounding_weights

    made = json.loads(grounding_weights().with_suffix(".json").read_text())
    return {"what": "grounding module (shipped weights)", "minutes": made["minutes"], "torch_threads": made["torch_threads"],
            "steps": made["steps"], "episodes": made["collect"]["kept"], "frozen": bool(model.get("grounding_freeze"))}


def vlaforge_budget(run: Path) -> dict[str, Any]:
    """CPU seconds vlaforge's training used, as the integral of its torch threads over wall time (metrics.jsonl)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "elapsed_s" in r]
    if not rows:
        raise SystemExit(f"{run / 'metrics.jsonl'} has no elapsed_s records: point --vlaforge at a finished `vlaforge demo --out` directory")
    cpu, last = 0.0, 0.0
    for r in rows:
        cpu += (r["elapsed_s"] - last) * int(r.get("threads") or 1)  # threads in force over the interval that ends here
        last = r["elapsed_s"]
    threads = sorted({int(r.get("threads") or 1) for r in rows})
    return {"cpu_s": round(cpu, 1), "wall_s": round(last, 1), "threads": threads, "steps": rows[-1]["step"],
            "method": "wall time x torch threads (metrics.jsonl records no CPU time): an upper bound, which favours LeRobot"}


# ---------------------------------------------------------------------------------------------- lerobot-train
def backbone_weights(choice: str) -> str | None:
    """ACT's backbone weights: ImageNet when torchvision has them cached (auto) or when asked, else none (from scratch)."""
    if choice == "none":
        return None
    if choice == "imagenet":
        return IMAGENET
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    return IMAGENET if (hub / IMAGENET_FILE).is_file() else None


def train_command(python: Path, data: Path, out: Path, args: argparse.Namespace, steps: int, save_freq: int, seed: int,
                  weights: str | None) -> list[str]:
    """`lerobot-train` (as `python -m lerobot.scripts.lerobot_train`) for ACT on a local vlaforge dataset, on CPU."""
    return [str(python), "-m", "lerobot.scripts.lerobot_train", f"--dataset.repo_id=vlaforge/{data.parent.name}", f"--dataset.root={data}",
            "--policy.type=act", "--policy.device=cpu", "--policy.push_to_hub=false", f"--policy.chunk_size={CHUNK}",
            f"--policy.n_action_steps={EXECUTE}", f"--policy.pretrained_backbone_weights={weights or 'null'}",
            f"--output_dir={out}", "--job_name=act_vs_vlaforge", f"--seed={seed}", f"--batch_size={args.batch_size}",
            f"--num_workers={args.num_workers}", f"--steps={steps}", f"--log_freq={args.log_freq}",
            f"--save_checkpoint={'true' if save_freq else 'false'}", f"--save_freq={save_freq or steps}", "--wandb.enable=false"]


class Trainer:
    """One `lerobot-train` process in its own session: its progress, its process tree's CPU time, its checkpoints."""

    PROGRESS = re.compile(r"(\d+)/(\d+) \[")  # tqdm: "Training:  42%|...| 5/12 [01:53<02:22, ...]"
    LOSS = re.compile(r"step:\S+ .*?loss:([-\d.]+)")

    def __init__(self, cmd: list[str], out: Path):
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = out.parent / f"{out.name}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # LeRobot's venv, not ours
        env["HF_HUB_OFFLINE"] = "1"
        self.log = open(self.log_path, "w")
        self.t0, self.busy0 = time.perf_counter(), machine_busy_s()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.offset, self.step, self.loss, self.cpu = 0, 0, None, 0.0
        self.points: list[tuple[int, float, float]] = []  # (step, CPU s, wall s) when tqdm showed that step
        self.checkpoints: list[dict[str, Any]] = []  # {step, cpu_s, wall_s} when `last` moved to it

    def poll(self) -> None:
        """Read the CPU time, new log text and the `last` checkpoint; delete checkpoints older than `last`."""
        self.cpu = max(self.cpu, session_cpu_s(self.proc.pid))
        wall = time.perf_counter() - self.t0
        with open(self.log_path, errors="replace") as f:
            f.seek(self.offset)
            text = f.read()
            self.offset = f.tell()
        steps = [int(m.group(1)) for m in self.PROGRESS.finditer(text)]
        if steps and steps[-1] > self.step:
            self.step = steps[-1]
            self.points.append((self.step, self.cpu, wall))
        losses = self.LOSS.findall(text)
        if losses:
            self.loss = float(losses[-1])
        last = self.out / "checkpoints" / "last"
        if last.is_symlink():
            step = int(os.readlink(last).rstrip("/").split("/")[-1])
            if not self.checkpoints or self.checkpoints[-1]["step"] != step:
                self.checkpoints.append({"step": step, "cpu_s": round(self.cpu, 1), "wall_s": round(wall, 1)})
                for d in (self.out / "checkpoints").iterdir():
                    if d.name.isdigit() and int(d.name) < step:
                        shutil.rmtree(d)

    def run(self, budget_cpu_s: float | None = None) -> dict[str, Any]:
        """Poll until the process exits or its tree has used `budget_cpu_s`; then stop it (SIGTERM to its session)."""
        stopped = False
        while self.proc.poll() is None:
            self.poll()
            if budget_cpu_s is not None and self.cpu >= budget_cpu_s:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the session this benchmark started: trainer + its workers
                stopped = True
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
                break
            time.sleep(0.5)
        wall = time.perf_counter() - self.t0
        busy = machine_busy_s() - self.busy0
        self.poll()
        self.log.close()
        if not stopped and self.proc.returncode != 0:
            tail = self.log_path.read_text(errors="replace")[-4000:]
            raise SystemExit(f"lerobot-train exited with code {self.proc.returncode} (log {self.log_path}); it ends:\n{tail}")
        cores = len(os.sched_getaffinity(0))
        return {"steps": self.step, "cpu_s": round(self.cpu, 1), "wall_s": round(wall, 1), "stopped_at_budget": stopped,
                "last_logged_loss": self.loss, "checkpoints": self.checkpoints, "log": str(self.log_path),
                "contention": {"wall_s": round(wall, 1), "machine_busy_cores": round(busy / wall, 2), "own_cores": round(self.cpu / wall, 2),
                               "other_cores": round(max(0.0, busy - self.cpu) / wall, 2), "cores": cores}}


def cpu_per_step(points: list[tuple[int, float, float]], warmup: int) -> float:
    """CPU seconds per training step after the first `warmup` steps, from the (step, CPU s, wall s) progress points."""
    after = [p for p in points if p[0] >= warmup]
    if len(after) < 2 or after[-1][0] == after[0][0]:
        raise SystemExit(f"the calibration run showed too few steps to time ({points}); raise --calibration-steps")
    return (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0])


def params_in(safetensors_file: Path) -> int:
    """Number of parameters in a .safetensors file (read from its header)."""
    with open(safetensors_file, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


# ---------------------------------------------------------------------------------------------- serve + eval
def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(python: Path, policy_dir: Path, token: str, log_path: Path, threads: int) -> tuple[subprocess.Popen, str, str]:
    """Start `vlaforge serve --policy lerobot:DIR` with this checkout's src first on the path; (process, URL, start line)."""
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(PYTHONPATH=str(ROOT / "src"), VLAFORGE_TOKEN=token, HF_HUB_OFFLINE="1")
    log = open(log_path, "w")
    proc = subprocess.Popen([str(python), "-m", "vlaforge", "serve", "--policy", f"lerobot:{policy_dir}", "--port", str(port),
                             "--threads", str(threads)], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 900  # torch + LeRobot imports are slow on a busy machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"`vlaforge serve` exited with code {proc.returncode}; {log_path} ends:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        proc.terminate()
        raise SystemExit(f"`vlaforge serve` did not answer within 900 s; see {log_path}")
    start = next((line for line in log_path.read_text().splitlines() if line.startswith("LeRobot ")), "")
    return proc, url, start


def compare(vf: list[Any], lr: list[Any]) -> dict[str, Any]:
    """Per split and overall: Wilson intervals for both and McNemar on the paired episodes; recovery the same way."""
    from vlaforge.eval.compare import compare_records
    from vlaforge.eval.records import summarize
    from vlaforge.eval.stats import mcnemar, wilson

    res = compare_records(vf, lr, "vlaforge", "LeRobot ACT")
    if res["only_in_a"] or res["only_in_b"]:
        raise SystemExit(f"the evaluations are not paired: {res['only_in_a']} episodes only in vlaforge's, {res['only_in_b']} only in ACT's")
    by_key = {r.key: r for r in lr}
    both = [(a, by_key[a.key]) for a in vf if a.perturbations and by_key[a.key].perturbations]
    sa, sb = [a.success for a, _ in both], [b.success for _, b in both]
    ra, rb = wilson(sum(sa), len(sa)), wilson(sum(sb), len(sb))
    res["recovery"] = {"vlaforge": summarize(vf)["recovery"], "lerobot_act": summarize(lr)["recovery"],
                       "paired": {"n": len(both), "vlaforge": {"rate": ra[0] if both else None, "ci95": list(ra[1:])},
                                  "lerobot_act": {"rate": rb[0] if both else None, "ci95": list(rb[1:])}, **mcnemar(sa, sb)}}
    return res


def train_lerobot(args: argparse.Namespace, data: Path, lr_dir: Path, budget_cpu: float, seed: int,
                  weights: str | None) -> tuple[dict[str, Any], Path]:
    """Calibrate, then run lerobot-train until its process tree has used `budget_cpu`; (record, newest pretrained_model dir)."""
    shutil.rmtree(lr_dir, ignore_errors=True)
    cal_steps = args.calibration_steps or (4 if args.smoke else 12)
    print(f"[1/4] calibration: {cal_steps} steps of lerobot-train (not counted)", flush=True)
    cal_trainer = Trainer(train_command(args.lerobot_python, data, lr_dir / "calibration", args, cal_steps, 0, seed, weights),
                          lr_dir / "calibration")
    cal = cal_trainer.run()
    per_step = cpu_per_step(cal_trainer.points, warmup=2)
    save_freq = max(1, int(args.checkpoint_every * budget_cpu / per_step))
    cal.update(cpu_s_per_step=round(per_step, 2), points=cal_trainer.points)
    print(f"      {per_step:.2f} CPU-s per step after the first 2 -> save_freq {save_freq} (budget {budget_cpu:.0f} CPU-s)", flush=True)

    print(f"[2/4] lerobot-train ACT until its process tree has used {budget_cpu:.0f} CPU-s", flush=True)
    train_dir = lr_dir / "train"
    cmd = train_command(args.lerobot_python, data, train_dir, args, 10_000_000, save_freq, seed, weights)
    train = Trainer(cmd, train_dir).run(budget_cpu)
    if not train["checkpoints"]:
        raise SystemExit(f"lerobot-train saved no checkpoint within the budget (save_freq {save_freq}); see {train['log']}")
    ckpt = train["checkpoints"][-1]
    policy_dir = (train_dir / "checkpoints" / "last").resolve() / "pretrained_model"
    lr_cfg = json.loads((policy_dir / "train_config.json").read_text())
    train.update(calibration=cal, save_freq=save_freq, checkpoint=ckpt, command=cmd[1:], policy=str(policy_dir),
                 params=params_in(policy_dir / "model.safetensors"), video_backend=lr_cfg["dataset"]["video_backend"], backbone_weights=weights,
                 checkpoint_age_cpu_s=round(train["cpu_s"] - ckpt["cpu_s"], 1))
    print(f"      {train['steps']} steps in {train['cpu_s']:.0f} CPU-s ({train['wall_s'] / 60:.1f} min wall); "
          f"evaluating the step-{ckpt['step']} checkpoint (saved at {ckpt['cpu_s']:.0f} CPU-s)", flush=True)
    return train, policy_dir


def eval_served(args: argparse.Namespace, policy_dir: Path, vf_meta: dict[str, Any],
                out: Path) -> tuple[list[Any], dict[str, Any], dict[str, Any], str, dict[str, float]]:
    """Serve the LeRobot policy, run `vlaforge eval --server` on vlaforge's tasks, splits and seeds; (records, summary, spec,
    server's start line, eval contention)."""
    from vlaforge.cli import main as cli
    from vlaforge.eval.records import load_records
    from vlaforge.serve.client import Client

    print("[3/4] vlaforge serve --policy lerobot:... and vlaforge eval --server on vlaforge's seeds", flush=True)
    token = secrets.token_hex(16)
    server, url, start_line = serve(args.serve_python, policy_dir, token, out / "serve.log", args.serve_threads)
    try:
        spec = Client(url, token=token).spec
        os.environ["VLAFORGE_TOKEN"] = token  # eval reads it there: the token stays out of argv and results
        eval_dir = out / "eval_lerobot_act"
        shutil.rmtree(eval_dir, ignore_errors=True)
        with Contention() as c:
            rc = cli(["eval", "--server", url, "--tasks", ",".join(vf_meta["tasks"]), "--split", ",".join(vf_meta["splits"]),
                      "--episodes", str(vf_meta["episodes_per_split_and_task"]), "--workers", str(args.eval_workers), "--executor", "naive",
                      "--no-progress", "--out", str(eval_dir)])
        if rc != 0:
            raise SystemExit("vlaforge eval --server failed")
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server session this benchmark started
        server.wait(timeout=60)
    summary = json.loads((eval_dir / "results.json").read_text())["summary"]
    return load_records(eval_dir / "records.jsonl"), summary, spec, start_line, c.record()


def doc_line(result: dict[str, Any]) -> str:
    """The docs/benchmarks.md line for a result of this benchmark."""
    from vlaforge.eval.stats import interval_text

    vf, lr, cmp = result["vlaforge"], result["lerobot"], result["comparison"]
    budget, budget_cpu, train, meta, pretrain = vf["budget"], result["budget_cpu_s"], lr["train"], vf["eval"], vf["pretraining"]
    splits = {sp: cmp["by_split"][sp] for sp in meta["splits"] if sp in cmp["by_split"]}  # the suite's order

    def pct(r: dict[str, Any]) -> str:
        return f"{r['rate']:.0%} {interval_text(r)}" if r["rate"] is not None else "n/a"

    parts = [f"{sp} {pct(b['a'])} vs {pct(b['b'])} (McNemar p = {b['p_value']:.2g})" for sp, b in splits.items()]
    rec = cmp["recovery"]["paired"]
    if rec["n"]:
        parts.append(f"recovery (perturbation fired in both, n = {rec['n']}) {pct(rec['vlaforge'])} vs {pct(rec['lerobot_act'])} "
                     f"(p = {rec['p_value']:.2g})")
    tc, ckpt = train["contention"], train["checkpoint"]
    threads = "/".join(map(str, budget["threads"])) + " thread" + "s" * (budget["threads"] != [1])
    how_budget = (f"{budget_cpu:.0f} CPU-s = vlaforge's training, {budget['wall_s'] / 60:.1f} min x {threads} ({budget['steps']} steps), an "
                  "upper bound on its CPU time that favours LeRobot") if budget_cpu == budget["cpu_s"] else \
                 f"{budget_cpu:.0f} CPU-s (set; vlaforge's training: {budget['wall_s'] / 60:.1f} min x {threads}, {budget['steps']} steps)"
    init = "ImageNet" if train["backbone_weights"] else "from scratch: ImageNet weights cannot be downloaded here"
    pre = (f" Outside the budget, vlaforge's grounding module starts from its shipped weights ({pretrain['minutes']:.0f} min x "
           f"{pretrain['torch_threads']} threads on {pretrain['episodes']} labelled sim episodes).") if pretrain else ""
    return (f"**LeRobot ACT vs vlaforge's default policy** (same data: {vf['episodes']} {'/'.join(meta['tasks'])} episodes; same budget: "
            f"{how_budget}; same {meta['episodes_per_split_and_task']} seeds per split). `lerobot-train --policy.type act` with LeRobot "
            f"{lr['version']}'s defaults (resnet18 {init}; {train['params'] / 1e6:.1f}M parameters; batch {lr['batch_size']}) and chunk_size "
            f"{lr['chunk_size']} / n_action_steps {lr['n_action_steps']}: {train['steps']} steps in {train['cpu_s']:.0f} CPU-s, "
            f"{train['wall_s'] / 60:.1f} min (other work {tc['other_cores']:.2f} of {tc['cores']} cores); its step-{ckpt['step']} checkpoint "
            f"served with `vlaforge serve --policy lerobot:` and executing {lr['spec_execute']} actions per chunk as LeRobot does. "
            f"Success, vlaforge vs ACT: " + "; ".join(parts) + ". ACT reads no instruction, and pick_place's names the object and the bin."
            + pre + (f" {result['note'].rstrip('.')}." if result["note"] else "") + " `python benchmarks/lerobot_act.py`")


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vlaforge", type=Path, default=Path("outputs/quality"), help="a finished `vlaforge demo --out` directory")
    ap.add_argument("--out", type=Path, help="this benchmark's outputs (default outputs/lerobot_act[_smoke]); its lerobot/ is replaced")
    ap.add_argument("--smoke", action="store_true", help="the whole path on `vlaforge demo --quick`, a 60 CPU-s budget, 2 episodes per split")
    ap.add_argument("--lerobot-python", type=Path, default=Path(os.environ.get("LEROBOT_PYTHON", LEROBOT_VENV / "bin" / "lerobot-python")),
                    help="LeRobot venv's python for lerobot-train (default: lerobot_env.sh's wrapper)")
    ap.add_argument("--serve-python", type=Path, default=Path(os.environ.get("LEROBOT_SERVE_PYTHON", LEROBOT_VENV / "bin" / "python")),
                    help="a Python with LeRobot and vlaforge's dependencies for `vlaforge serve lerobot:DIR` (docs/deploy.md)")
    ap.add_argument("--budget-cpu-s", type=float, default=0.0, help="override the CPU budget (default: vlaforge's run's; smoke: 60)")
    ap.add_argument("--batch-size", type=int, default=8, help="lerobot-train --batch_size (LeRobot's default: 8)")
    ap.add_argument("--num-workers", type=int, default=2, help="lerobot-train --num_workers (their CPU counts against the budget)")
    ap.add_argument("--log-freq", type=int, default=10, help="lerobot-train --log_freq")
    ap.add_argument("--backbone-weights", choices=["auto", "imagenet", "none"], default="auto",
                    help="ACT's resnet18 init: ImageNet (needs torchvision's cached download) or none; auto: ImageNet if cached")
    ap.add_argument("--calibration-steps", type=int, default=0, help="steps of the uncounted timing run (default 12; smoke 4)")
    ap.add_argument("--checkpoint-every", type=float, default=0.08, help="a checkpoint every this share of the budget")
    ap.add_argument("--eval-workers", type=int, default=2, help="vlaforge eval --workers")
    ap.add_argument("--serve-threads", type=int, default=1, help="vlaforge serve --threads")
    ap.add_argument("--note", default="", help="anything about the run a reader must know")
    args = ap.parse_args()
    from vlaforge.cli import main as cli
    from vlaforge.eval.records import load_records

    t_start = time.perf_counter()
    out = (args.out or Path("outputs/lerobot_act_smoke" if args.smoke else "outputs/lerobot_act")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for py in (args.lerobot_python, args.serve_python):
        if not py.exists():
            raise SystemExit(f"{py} does not exist: build LeRobot's venv with `bash benchmarks/lerobot_env.sh` (and see --help)")
    check = subprocess.run([str(args.serve_python), "-c", "import lerobot, uvicorn, httpx, vlaforge.serve.server"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if check.returncode != 0:
        raise SystemExit(f"--serve-python {args.serve_python} cannot import LeRobot and vlaforge's server ({check.stderr.strip().splitlines()[-1:]}); "
                         "install vlaforge into LeRobot's venv (`$VENV/bin/pip install -e .`, docs/deploy.md) or pass another --serve-python")

    # vlaforge's side
    vf_dir = args.vlaforge.resolve()
    if args.smoke:
        vf_dir = out / "vlaforge"
        shutil.rmtree(vf_dir, ignore_errors=True)
        if cli(["demo", "--quick", "--out", str(vf_dir), "--no-progress"]) != 0:
            raise SystemExit("vlaforge demo --quick failed")
    for part in ("data/meta/info.json", "run/metrics.jsonl", "run/config.json", "eval/records.jsonl", "eval/results.json"):
        if not (vf_dir / part).is_file():
            raise SystemExit(f"{vf_dir / part} is missing: --vlaforge must be a finished `vlaforge demo --out` directory")
    vf_cfg = json.loads((vf_dir / "run" / "config.json").read_text())
    vf_meta = json.loads((vf_dir / "eval" / "results.json").read_text())["meta"]
    vf_records = load_records(vf_dir / "eval" / "records.jsonl")
    budget = vlaforge_budget(vf_dir / "run")
    budget_cpu = args.budget_cpu_s or (60.0 if args.smoke else budget["cpu_s"])
    seed = int(vf_cfg["train"]["seed"])
    pretrain = vlaforge_pretraining(vf_cfg["model"])
    episodes = json.loads((vf_dir / "data" / "meta" / "info.json").read_text())["total_episodes"]
    weights = backbone_weights(args.backbone_weights)

    # LeRobot trains on a copy of the same dataset (nothing under --vlaforge is written)
    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(vf_dir / "data", data, ignore=shutil.ignore_patterns(".cache"))
    train, policy_dir = train_lerobot(args, data, out / "lerobot", budget_cpu, seed, weights)
    lr_records, lr_summary, spec, start_line, eval_contention = eval_served(args, policy_dir, vf_meta, out)

    print("[4/4] paired comparison", flush=True)
    cmp = compare(vf_records, lr_records)
    result = {
        "smoke": args.smoke, "note": args.note,
        "vlaforge": {"dir": str(vf_dir), "data": str(vf_dir / "data"), "episodes": episodes,
                     "model": {k: vf_cfg["model"][k] for k in ("encoder", "head", "chunk", "n_action_steps")}, "train_seed": seed, "budget": budget, "pretraining": pretrain, "eval": vf_meta},
        "budget_cpu_s": budget_cpu,
        "lerobot": {"version": start_line.split()[1] if start_line else "unknown", "policy": "act", "chunk_size": CHUNK, "n_action_steps": EXECUTE, "batch_size": args.batch_size,
                    "num_workers": args.num_workers, "seed": seed, "train": train, "served": start_line,
                    "spec_execute": spec["action"].get("execute"), "executor": "naive (no latency)",
                    "inference_ms": lr_summary["inference_ms"], "eval_contention": eval_contention},
        "comparison": cmp,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    result["doc"] = doc = doc_line(result)
    if args.smoke:  # a smoke run checks the path; its numbers mean nothing and stay out of docs/benchmarks.md
        (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        print(f"\nsmoke run: {out / 'result.json'}\ndoc line it would write:\n{doc}")
    else:
        save("lerobot_act", result, doc)


if __name__ == "__main__":
    main()
