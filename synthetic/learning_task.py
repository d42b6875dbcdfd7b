"""The task on which the tiny policy learns, on CPU, from reward alone: LR-IAD's single-ab with obvious anomalies.

Why this task. On the demo's realistic synthetic data (defects of a few pixels) the tiny policy cannot improve:
its vision tower sees an image as a handful of merged tokens, where a scratch or a missing pushpin is noise. Its
answer reads the image through a few percent of its attention, and on FAD-TQ's pair3c (two images, a long prompt,
three classes) that signal was too weak to find in 40 steps at any learning rate we tried (measured: training
accuracy without trend at 1e-3, 2e-3, 5e-3, with 64- and 112-pixel images). Here every anomalous image carries one
cyan disc of 0.36 to 0.44 of the image side in radius (``synthetic.obvious``); the prompt is LR-IAD's (one image,
(A) defect (B) normal), the shortest of the three papers', so the image is a sixth of the prompt; classes are
balanced (chance 1/2), so no prior pays off; training is VisA, testing MVTec AD, as LR-IAD does it, so the held-out
objects are ones the policy never saw. What it learns here says that images travel from the parquet through the
rollout into the actor update and that rewards move the policy; nothing about Qwen2.5-VL on real defects.

    python -m synthetic.learning_task --out outputs/learning      # visa/, mvtec_ad/ and single-ab/*.parquet
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from data_prep.build import BuildConfig, build
from data_prep.outputs import atomic_path, write_atomic
from data_prep.prompts import SINGLE_AB
from synthetic.datasets import write_mvtec_ad, write_visa

# Training: every VisA category, 20 normal and 20 anomalous images each (480 rows, balanced).
VISA_IMAGES_PER_LABEL: Final = 20
# Held out: the MVTec AD categories with five defect types, so that 9 test goods + 1 train good balance 5 x 2
# defective images (140 rows, 70 per label).
MVTEC_AD_CATEGORIES: Final = ("capsule", "carpet", "grid", "leather", "screw", "tile", "wood")
MVTEC_AD_COUNTS: Final = MappingProxyType({"n_train": 1, "n_test_good": 9, "n_test_per_defect": 2})
IMAGE_SIZE: Final = 112  # the tiny processor's largest image: 4x4 merged tokens
PROTOCOL: Final = SINGLE_AB
BUILT: Final = "built"  # data_prep.build's own output, before interleave_labels
CHANCE: Final = 1 / 2


@dataclass(frozen=True)
class LearningSettings:
    """How the tiny policy trains on this task: verl keys that differ from the recipe and the CPU overlay."""

    steps: int
    prompts_per_step: int  # data.train_batch_size (and ppo_mini_batch_size: one update per step, on-policy)
    rollouts: int  # actor_rollout_ref.rollout.n
    lr: float
    adam_eps: float  # AdamW's epsilon (torch's default 1e-8): why larger, see LEARNING_SETTINGS
    warmup_steps: int = 0  # the learning rate rises linearly from 0 over these steps, then decays on the cosine
    min_lr_ratio: float = 0.0  # where the cosine ends, as a share of ``lr``
    extra: tuple[str, ...] = ()  # Hydra overrides particular to one recipe

    def overrides(self) -> list[str]:
        """Hydra overrides for ``recipes.train <recipe> +overlay=cpu``."""
        return [
            f"iad.dataset={PROTOCOL}",
            # the file's order (labels alternating, see interleave_labels): every batch holds both labels equally
            "data.shuffle=false",
            "actor_rollout_ref.actor.optim.lr_scheduler_type=cosine",
            # sample from the 50 likeliest tokens (transformers' default): the tiny policy's long tail of 2,000
            # untrained tokens otherwise breaks the format in ~15% of rollouts, and the updates that follow grew it
            "actor_rollout_ref.rollout.top_k=50",
            # verl ends training with its last epoch even before total_training_steps: lr_iad_focal's one epoch
            # (480 rows / 16 = 30 batches) ended its 40-step runs at step 30, before the checkpoint at step 40
            f"trainer.total_epochs={self.steps}",
            f"data.train_batch_size={self.prompts_per_step}",
            f"actor_rollout_ref.actor.ppo_mini_batch_size={self.prompts_per_step}",
            f"actor_rollout_ref.rollout.n={self.rollouts}",
            f"actor_rollout_ref.actor.optim.lr={self.lr}",
            f"actor_rollout_ref.actor.optim.override_optimizer_config={{eps:{self.adam_eps}}}",
            f"actor_rollout_ref.actor.optim.lr_warmup_steps={self.warmup_steps}",
            f"actor_rollout_ref.actor.optim.min_lr_ratio={self.min_lr_ratio}",
            # one forward/backward per step instead of 4-sequence micro-batches: the tiny model fits many times
            f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={self.prompts_per_step * self.rollouts}",
            f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={self.prompts_per_step * self.rollouts}",
            f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={self.prompts_per_step * self.rollouts}",
            # and every rollout of a step in one vLLM batch (the CPU overlay's 16 took four rounds)
            f"actor_rollout_ref.rollout.max_num_seqs={self.prompts_per_step * self.rollouts}",
            *self.extra,
        ]


# Why these numbers (every run behind them, setting by setting: BENCHMARKS.md, the notes on the learning runs).
# The policy has 0.36 M weights: at the papers' 1e-6 nothing moves. Unbalanced batches (random order) did not learn:
# the share of each label in a batch drives the answer's overall bias, and that noise swamped the image's signal
# (see interleave_labels).
# Adam's epsilon is 1e-4, not torch's 1e-8. Adam divides each gradient by its running RMS, so a weight whose
# gradient is tiny moves as far per step as one that carries the signal; here the tiny ones are the vision tower's
# (measured on the primed policy: median |gradient| 9e-8 in its blocks, 2e-6 in the patch embedding and merger,
# against 7e-5 in the language model's layers), so at 1e-8 every step moved the image features by the full learning
# rate in directions of noise, under the layers learning to read them. An epsilon above the vision tower's gradients
# and below the language model's all but freezes the former (verl 0.9.1's actor.freeze_vision_tower is a field that
# nothing reads).
# 16 prompts (8 per label) x 8 rollouts: every rollout of a step in one vLLM batch and one forward/backward. 16
# prompts, not 8, because what the policy must learn is how the answer depends on the image; 8 rollouts, not 4,
# because with 4 a policy that drifted toward one answer soon drew it in all 4 rollouts of most prompts, whose
# advantages are then 0, and stayed there (training accuracy 0.5 from step ~20, a gradient of exactly 0 at steps
# 21, 29, 34, 38 and 42).
# The rate: Adam moves every weight whose gradient is above epsilon by about the learning rate each step, and the
# primed language model's weights are small (median |w| 0.023), so at 5e-3 a single update now and then turned a
# near-certain token of the format ("<think>" became "</think>" in 62 of 64 rollouts), and one CI run never
# recovered (held out 50% -> 0%). 3e-3, after 5 warm-up steps (Adam's first steps are its largest: its variance
# estimate starts from one gradient). A rate that decays to 0 learned more slowly (training accuracy 0.79 after 60
# steps) than one that ends at half its peak (0.85 after 40); a constant 2e-3 learned and then collapsed.
# lr_iad_focal: see its entry (LoRA off, focal scale 4).
LEARNING_SETTINGS: Final = MappingProxyType(
    {
        "fad_tq_gpg": LearningSettings(
            steps=40, prompts_per_step=16, rollouts=8, lr=3e-3, adam_eps=1e-4, warmup_steps=5, min_lr_ratio=0.5
        ),
        # fad_tq_gpg's settings. Its own earlier ones (8 x 8, 45 steps, lr 3e-3, eps 1e-5) learned once (50% -> 71%,
        # 2026-12-02) and not in the benchmark of 2026-12-06 (training accuracy 0.46 -> 0.51, held out 50% -> 50%)
        "lad_reasoner_grpo": LearningSettings(
            steps=40, prompts_per_step=16, rollouts=8, lr=3e-3, adam_eps=1e-4, warmup_steps=5, min_lr_ratio=0.5
        ),
        # fad_tq_gpg's settings with LoRA off (lora_rank=0): the recipe's reward path (focal, Dr. GRPO, the
        # iad_group manager's p) with every weight trained. Its LoRA (rank 4 on q and v, the paper's) did not learn
        # this task: eight runs of 24-40 steps, ranks 4 and 16 on q/v, q/k/v/o and every language-model linear
        # layer, lr 5e-3 to 3e-2, Adam eps 1e-8 and 1e-4, stayed at training accuracy 0.3-0.5 or broke the format
        # (BENCHMARKS.md's notes), while full weights at these settings rose from 0.41 to 0.67 in 30 steps. The
        # focal scale alpha, which the paper leaves open (rewards/focal.py), is 4: at alpha 1 a correct answer earns
        # (1 - p)^2, 0.25 at p = 1/2, a tenth of the -1 a broken format gets under Dr. GRPO (no std). Held out it
        # generalized in one run of two (50% -> 71.4%; the repeat swapped its one answer, 50% -> 50%).
        "lr_iad_focal": LearningSettings(
            steps=40,
            prompts_per_step=16,
            rollouts=8,
            lr=3e-3,
            adam_eps=1e-4,
            warmup_steps=5,
            min_lr_ratio=0.5,
            extra=("actor_rollout_ref.model.lora_rank=0", "+reward.custom_reward_function.reward_kwargs.focal_alpha=4"),
        ),
    }
)


@dataclass(frozen=True)
class LearningTask:
    """Where a built task lies: ``data_dir`` is what recipes read as ``IAD_DATA_DIR``."""

    root: Path

    @property
    def visa_root(self) -> Path:
        return self.root / "visa"

    @property
    def mvtec_ad_root(self) -> Path:
        return self.root / "mvtec_ad"

    @property
    def data_dir(self) -> Path:
        return self.root

    @property
    def train_file(self) -> Path:
        return self.root / PROTOCOL / "train.parquet"

    @property
    def test_file(self) -> Path:
        return self.root / PROTOCOL / "test.parquet"


def build_learning_task(out: Path | str, *, seed: int = 0, workers: int = 1, overwrite: bool = False) -> LearningTask:
    """Write the synthetic datasets and the single-ab parquet under ``out`` (each atomically, with its manifest)."""
    task = LearningTask(Path(out))
    if task.root.exists() and any(task.root.iterdir()) and not overwrite:
        raise FileExistsError(f"{task.root} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    common = {"size": IMAGE_SIZE, "seed": seed, "anomalies": "obvious", "overwrite": True}
    write_visa(task.visa_root, n_normal=VISA_IMAGES_PER_LABEL, n_anomaly=VISA_IMAGES_PER_LABEL, **common)
    write_mvtec_ad(task.mvtec_ad_root, MVTEC_AD_CATEGORIES, **MVTEC_AD_COUNTS, **common)
    config = BuildConfig(
        protocol=PROTOCOL,
        roots={"visa": task.visa_root, "mvtec_ad": task.mvtec_ad_root},
        out=task.root / BUILT,
        datasets=("visa",),
        seed=seed,
        workers=workers,
        overwrite=True,
    )
    build(config)
    task.train_file.parent.mkdir(parents=True, exist_ok=True)
    interleave_labels(task.root / BUILT / "train.parquet", task.train_file, seed=seed)
    shutil.copyfile(task.root / BUILT / "test.parquet", task.test_file)
    manifest = {
        "generator": "synthetic.learning_task",
        "built_by": f"data_prep.build, in {BUILT}/ (its manifest.json)",
        "train.parquet": "the built train.parquet, rows reordered by interleave_labels",
        "test.parquet": "the built test.parquet, unchanged",
        "seed": seed,
    }
    write_atomic(task.root / PROTOCOL / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return task


def _write_table(table, target: Path) -> None:
    import pyarrow.parquet as pq

    with atomic_path(target) as temporary:
        pq.write_table(table, temporary)


def interleave_labels(source: Path, target: Path, seed: int = 0) -> Path:
    """``source``'s rows reordered so that the answers alternate (each label's rows in a seeded random order).

    Read in this order (``data.shuffle=false``), every batch of an even size holds both answers equally, so the
    update cannot drift toward one answer because a batch happened to hold more of it.
    """
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    truths = [row["ground_truth"] for row in table.column("reward_model").to_pylist()]
    rng = np.random.default_rng(seed)
    by_label = {label: [i for i, t in enumerate(truths) if t == label] for label in sorted(set(truths))}
    queues = [list(rng.permutation(rows)) for rows in by_label.values()]
    order: list[int] = []
    while any(queues):
        order += [int(queue.pop()) for queue in queues if queue]
    _write_table(table.take(order), target)
    return target


def blank_images(source: Path, target: Path, *, grey: int = 128) -> Path:
    """A copy of a parquet file whose every image is one flat grey PNG of the same size (the blank-image control).

    Everything else (prompts, answers, metadata) stays byte for byte, so a policy trained on it sees the task
    without its only evidence; written to a temporary file and renamed.
    """
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(source)
    column = table.column("images").combine_chunks()
    blanked = []
    cache: dict[tuple[int, int], bytes] = {}
    for row in column.to_pylist():
        images = []
        for image in row:
            size = Image.open(io.BytesIO(image["bytes"])).size
            if size not in cache:
                buffer = io.BytesIO()
                Image.new("RGB", size, (grey, grey, grey)).save(buffer, format="PNG")
                cache[size] = buffer.getvalue()
            images.append({**image, "bytes": cache[size]})
        blanked.append(images)
    index = table.schema.get_field_index("images")
    table = table.set_column(index, table.schema.field(index), pa.array(blanked, type=column.type))
    _write_table(table, target)
    return target


def blank_task(task: LearningTask, out: Path | str) -> LearningTask:
    """The same task with every training image blanked (``out/pair3c/train.parquet``); the test file is copied.

    Trained on it, a policy gets the rewards of the real task for the same prompts but never sees a disc: held out
    on the real test images it must stay at chance if what the real run learns comes from the images.
    """
    blanked = LearningTask(Path(out))
    if blanked.root.exists():
        shutil.rmtree(blanked.root)
    blank_images(task.train_file, blanked.train_file)
    shutil.copyfile(task.test_file, blanked.test_file)
    manifest = {
        "generator": "synthetic.learning_task.blank_task",
        "source": str(task.root),
        "blanked": ["train.parquet"],
        "grey": 128,
    }
    (blanked.root / PROTOCOL / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return blanked


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for visa/, mvtec_ad/ and single-ab/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        task = build_learning_task(args.out, seed=args.seed, workers=args.workers, overwrite=args.overwrite)
    except FileExistsError as error:
        parser.error(str(error))
    print(f"datasets: {task.visa_root}, {task.mvtec_ad_root}\ntrain: {task.train_file}\ntest:  {task.test_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
