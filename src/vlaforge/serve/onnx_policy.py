"""OnnxPolicy: an exported policy run by onnxruntime, planning chunks like VLAPolicy (execute them with `vlaforge.control`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlaforge.errors import CheckpointError
from vlaforge.serve.export import read_meta
from vlaforge.lru import DEFAULT_SIZE, LRU
from vlaforge.serve.schema import PolicySpec, zero_observation


class OnnxPolicy:
    """`predict_chunk(obs, instruction) -> (H, A)` and `predict_batch` on onnxruntime; `n_action_steps` is the exported default."""

    def __init__(self, path: str | Path, threads: int | None = None, seed: int = 0, instruction_cache: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"{path} does not exist")
        self.meta = read_meta(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own types (InvalidProtobuf, Fail, ...) share no public base
            raise CheckpointError(f"{path} is not a loadable ONNX model ({str(e).splitlines()[0][:200]}); export it again with `vlaforge export`") from None
        self.inputs = self.meta["inputs"]
        self.dynamic_batch = not isinstance(self.session.get_inputs()[0].shape[0], int)  # older exports: batch 1
        self.cameras = self.inputs[:-3]
        self.chunk, self.action_dim = int(self.meta["chunk"]), int(self.meta["action_dim"])
        self.n_action_steps = int(self.meta.get("n_action_steps", 8))
        self.table = {t: np.asarray(v, np.float32) for t, v in zip(self.meta["tasks"], self.meta["language_table"])}
        self.unseen: LRU[str, np.ndarray] = LRU(instruction_cache or DEFAULT_SIZE)  # other wordings, bounded
        feats = self.meta["dataset_info"]["features"]
        obs = {c: (tuple(feats[c]["shape"]), "uint8") for c in self.cameras}
        obs["observation.state"] = (tuple(feats["observation.state"]["shape"]), "float32")
        self.spec = PolicySpec(obs, self.chunk, self.action_dim, tuple(feats["action"].get("names") or ()), execute=self.n_action_steps)
        self.rng = np.random.default_rng(seed)

    def _lang(self, instruction: str) -> np.ndarray:
        if instruction in self.table:  # the exported tasks stay; other wordings live in the bounded LRU
            return self.table[instruction]
        found = self.unseen.get(instruction)
        if found is None:  # unseen wording: embed it with the same frozen text model
            from vlaforge.models.encoders.language import shared_embedder

            embedder = shared_embedder(self.meta["dataset_info"].get("text_model"))
            found = embedder.features([instruction])[0].numpy()
            embedder.cache.pop(instruction, None)  # kept here, bounded, not twice
            self.unseen.put(instruction, found)
        return found

    def warmup(self) -> None:
        """Load the text model and run the session once, so the first request is not the slow one."""
        rng = self.rng.bit_generator.state
        self.predict_chunk(zero_observation(self.spec), "warm-up")  # an unseen wording: loads the text model too
        self.rng.bit_generator.state = rng  # the warm-up draws no noise the first request would have had

    def predict_chunk(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """One raw observation → raw chunk (H, A)."""
        return self._run([obs], [instruction])[0]

    def predict_batch(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        """(B, H, A) for B observations: one session call (exports before the dynamic batch axis loop)."""
        if self.dynamic_batch or len(observations) == 1:
            return self._run(observations, instructions)
        return np.concatenate([self._run([o], [i]) for o, i in zip(observations, instructions)])

    def _run(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        """One session call on a stacked batch → (B, H, A)."""
        return self.session.run(None, self.feed(observations, instructions))[0]

    def feed(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> dict[str, np.ndarray]:
        """The session inputs for a batch (input name → array); noise drawn in request order, as B single calls would."""
        feed = {c: np.ascontiguousarray(np.stack([np.asarray(o[c], np.uint8) for o in observations]).transpose(0, 3, 1, 2))
                for c in self.cameras}  # (B, 3, H, W)
        feed["observation.state"] = np.stack([np.asarray(o["observation.state"], np.float32) for o in observations])  # (B, S)
        feed["language"] = np.stack([self._lang(i) for i in instructions])  # (B, 1 + L, 384)
        feed["noise"] = self.rng.standard_normal((len(observations), self.chunk, self.action_dim)).astype(np.float32)  # (B, H, A)
        return feed
