"""Hugging Face Space entry point: the FlexPose browser demo on CPU hardware.

The Space repository holds this file, requirements.txt, README.md (the Space header) and the
``flexpose_hf/`` package folder; see README.md for the two upload commands.
"""

from flexpose_hf.demo import build_app
from flexpose_hf.demo.jobs import MAX_UPLOAD_MB

demo = build_app()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=2).launch(max_file_size=f"{MAX_UPLOAD_MB}mb")
