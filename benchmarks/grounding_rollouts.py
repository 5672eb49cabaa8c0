"""Grounding in the policy's own rollouts: is the target keypoint on the object of the current move, step by step?

    python benchmarks/grounding_rollouts.py --checkpoint RUN --tasks all --name grounding_rollouts

The grounding module's right-object rate is a training metric on recorded demo frames. A rollout visits other states
(a dropped object, a half-done sequence), so this runs the evaluation's episodes (same seeds, same actor) in one
process and, before every action, asks the policy's grounding module where the named object is. The sim says which
move is current (the expert's own rule: the first move not done, in the family's order) and where every object is.
A move counts as **mis-grounded** when the predicted target is nearest (on the table plane) to another object in
most of its steps (a policy that grounds every move, `--model.grounding_slots moves`, is asked for the
keypoint of the move under way: the first move's until it is done, then the last move's). Reported per family, for successes and failures apart: which failures come with a mis-grounded
move (a grounding problem) and which do not (a control problem). Episodes are deterministic on a checkpoint (chunk
head), so the successes equal `vlaforge eval`'s on the same seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, save  # noqa: E402


class GroundingSpy:
    """An actor that records, before each action, the current move's object and the object nearest the target keypoint."""

    def __init__(self, actor: Any, env_for: Any, spec: Any):
        self.actor, self.env_for, self.spec = actor, env_for, spec
        self.steps: list[tuple[int, bool, float]] = []  # (move number, right object, target error cm)

    def reset(self) -> None:
        self.actor.reset()

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        import torch

        from vlaforge.sim.scene import N_OBJECTS
        from vlaforge.sim.tasks import current_move, steps_of

        env, policy = self.env_for(self.spec), self.actor.policy
        move = current_move(env)
        if move is not None:
            done = int(sum(bool(env.task_family.move_done(env, i, t)) for i, t in steps_of(env.task)))  # moves finished so far
            # "current" keypoints: the first is the current move's object; "moves": the first move's, then the last move's
            slot = 2 * min(done, 1) if policy.cfg.grounding_slots == "moves" else 0
            with torch.no_grad():
                images = {c: torch.from_numpy(obs[c]).permute(2, 0, 1)[None, None] for c in policy.cameras}  # (1, 1, 3, H, W)
                xyz = policy.ground(images, policy.embed_text([instruction]))["xyz"][0, slot].numpy()  # (3,) target keypoint
            objs = np.stack([env.obj_pos(k) for k in range(N_OBJECTS)])  # (M, 3)
            want = move[0]
            nearest = int(np.argmin(np.linalg.norm(objs[:, :2] - xyz[:2], axis=1)))
            self.steps.append((done, nearest == want, float(np.linalg.norm(objs[want] - xyz) * 100)))
        return self.actor(obs, instruction)

    def moves(self) -> list[dict[str, Any]]:
        """Per move reached: steps spent on it, right-object rate, median target error (cm)."""
        out = []
        for m in sorted({s[0] for s in self.steps}):
            rows = [s for s in self.steps if s[0] == m]
            out.append({"move": m, "steps": len(rows), "right_object": round(float(np.mean([r[1] for r in rows])), 3),
                        "target_err_cm": round(float(np.median([r[2] for r in rows])), 2)})
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="a run dir or checkpoint with a grounding module")
    ap.add_argument("--tasks", default="all", help="task families (comma-separated, or all)")
    ap.add_argument("--episodes", type=int, default=50, help="per family (the seen split's evaluation seeds)")
    ap.add_argument("--name", default="grounding_rollouts", help="result name (JSON file and docs/benchmarks.md line)")
    args = ap.parse_args()

    import torch

    from vlaforge.errors import ConfigError
    from vlaforge.eval.rollout import env_for, run_episode
    from vlaforge.eval.runner import make_actor
    from vlaforge.eval.suites import get_suite

    torch.set_num_threads(1)
    actor = make_actor({"checkpoint": args.checkpoint})
    if getattr(actor.policy, "grounding", None) is None:
        raise ConfigError(f"{args.checkpoint} has no grounding module (--model.grounding false): nothing to measure")
    suite = get_suite("tabletop")
    families = suite.tasks(args.tasks)
    episodes: list[dict[str, Any]] = []
    with Contention() as c:
        for spec in suite.specs(families, ["seen"], args.episodes):
            spy = GroundingSpy(actor, env_for, spec)
            record, _ = run_episode(spy, spec)
            moves = spy.moves()
            episodes.append({"family": spec.family, "seed": spec.seed, "success": record.success, "failures": record.failures,
                             "moves": moves, "misgrounded": any(m["right_object"] < 0.5 for m in moves)})
            print(f"{spec.family} {spec.seed}: {'success' if record.success else 'failure'}, "
                  + ", ".join(f"move {m['move']} right {m['right_object']:.0%} over {m['steps']} steps" for m in moves), flush=True)
    by_family = {}
    for f in families:
        eps = [e for e in episodes if e["family"] == f]
        fail = [e for e in eps if not e["success"]]
        ok = [e for e in eps if e["success"]]
        by_family[f] = {"episodes": len(eps), "successes": len(ok), "failures": len(fail),
                        "failures_misgrounded": sum(e["misgrounded"] for e in fail), "successes_misgrounded": sum(e["misgrounded"] for e in ok)}
    result = {"checkpoint": args.checkpoint, "episodes_per_family": args.episodes, "by_family": by_family, "episodes": episodes,
              "contention": c.record()}
    parts = [f"{f} {r['successes']}/{r['episodes']} succeed, {r['failures_misgrounded']} of {r['failures']} failures mis-grounded "
             f"({r['successes_misgrounded']} of the successes)" for f, r in by_family.items()]
    line = (f"**Grounding in rollouts ({args.name})** ({args.checkpoint}, seen split, {args.episodes} episodes per family; a move is "
            "mis-grounded when the target keypoint is nearest another object in most of its steps): " + "; ".join(parts) + "."
            f" `python benchmarks/grounding_rollouts.py --checkpoint {args.checkpoint} --tasks {args.tasks} --name {args.name}`")
    save(args.name, result, line)


if __name__ == "__main__":
    main()
