"""Adapt a FlexPose source generator to a few target poses (steps 2-3 of FlexPose).

    accelerate launch examples/adapt.py --target poses.json --shots 10 --output_dir runs/my-adapter
    accelerate launch --multi_gpu --num_processes 2 examples/adapt.py ...   # data-parallel, CPU (gloo) or GPUs

Runs exactly what `flexpose adapt` runs (flexpose_hf.adaptation.run.run_adaptation), under an
Accelerator: each process draws its own batches, gradients are averaged, and only the main
process writes the adapter, card, samples, shots, grid and metrics.
"""

from __future__ import annotations

import argparse
import logging
import sys

from flexpose_hf.cli import adapt_from_args, adapt_summary, add_adapt_arguments, warn_if_worse
from flexpose_hf.errors import FlexPoseError
from flexpose_hf.training.checkpointing import make_accelerator


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_adapt_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    accelerator = make_accelerator()
    metrics = adapt_from_args(args, accelerator)
    rank = accelerator.process_index
    print(f"[rank {rank}/{accelerator.num_processes}] trained parameter checksum "
          f"{metrics['trained_parameter_checksum']:.10e}", flush=True)
    if accelerator.is_main_process:  # what `flexpose adapt` prints; the figures are in metrics.json
        print(adapt_summary(metrics))
        warn_if_worse(metrics)
    accelerator.end_training()
    return metrics


if __name__ == "__main__":
    try:
        main()
    except FlexPoseError as err:  # bad input or a mismatched resume: one clear line, no traceback
        sys.exit(f"error: {err}")
