"""Write MPII's persons outside one ``Category`` as a flexpose ``.npz``, to train a source that never saw it.

    python scripts/mpii_without_category.py ../shared/data/mpii/mpii_dataset.csv "winter activities" runs/unseen/mpii_no_winter.npz

The category's persons then form a target the source never saw (``benchmarks/harness.py --settings
mpii->winter`` or ``mpii->skiing`` with ``--base mpii-body=<that source>``), where the bundled source
saw every MPII person.
"""

from __future__ import annotations

import argparse
import csv
import sys

import numpy as np

from flexpose_hf import load_poses, pose_arrays
from flexpose_hf.errors import FlexPoseError
from flexpose_hf.io import skeleton_of, write_npz


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mpii_csv", help="MPII CSV with a Category column")
    p.add_argument("category", help="the Category value to leave out, e.g. 'winter activities'")
    p.add_argument("output", help="the .npz to write")
    args = p.parse_args(argv)
    with open(args.mpii_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "Category" not in rows[0]:
        raise FlexPoseError(f"{args.mpii_csv}: no 'Category' column")
    categories = sorted({row["Category"] for row in rows})
    if args.category not in categories:
        raise FlexPoseError(f"{args.mpii_csv}: no person of category {args.category!r} (categories: {', '.join(categories)})")
    left_out = [i for i, row in enumerate(rows) if row["Category"] == args.category]
    dataset = load_poses(args.mpii_csv, format="mpii")
    keypoints, _ = pose_arrays(dataset)
    keep = ~np.isin(np.asarray(dataset["record_index"]), left_out)
    write_npz(args.output, keypoints[keep], skeleton_of(dataset))
    print(f"{len(keypoints)} persons; {int((~keep).sum())} of category {args.category!r} left out; "
          f"{int(keep.sum())} written to {args.output}")


if __name__ == "__main__":
    try:
        main()
    except FlexPoseError as exc:
        sys.exit(f"error: {exc}")
