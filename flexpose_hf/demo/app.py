"""The Gradio page: upload target poses, adapt a bundled (or Hub) generator, look and download.

``build_app()`` returns the ``gr.Blocks``; ``flexpose demo`` and ``examples/space/app.py`` launch it.
The adapt action is also the named endpoint ``/adapt`` (target file, method, shots, base -> grid,
samples COCO JSON, metrics, ...) for ``gradio_client``.
"""

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import FlexPoseError
from ..hub import BUNDLED, DEFAULT_BASE
from . import jobs

try:
    import gradio as gr
except ImportError:  # flexpose demo reports it; the rest of the package does not need gradio
    gr = None

INTRO = """# FlexPose: adapt a pose generator to a few of your poses
Upload target poses (COCO keypoints JSON, mmpose's MPII JSON, MPII CSV, LSP `joints.mat`, Market-1501
OpenPose CSV, a `.pts` face or a `.zip` of `.pts` faces, flexpose `.npz`/`.parquet`), or take the
bundled demo poses. A few of them (the *shots*)
adapt the source generator with the transfer function tau on its style codes and mapping layers
([FlexPose, AAAI 2025](https://arxiv.org/abs/2412.13463)); the rest, when there are any, measure the result.
"""


def session_root(request: "gr.Request") -> Path:
    """This browser session's own folder (others never see it; removed when the page is closed)."""
    key = getattr(request, "session_hash", None) or "no-session"
    folder = Path(tempfile.gettempdir()) / "flexpose-demo" / "".join(c for c in key if c.isalnum())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def readable(exc: Exception, upload: str, root: Path) -> str:
    """The error's message with server-side folders dropped (the user knows the file by its name)."""
    text = str(exc)
    for folder in (str(root / "run" / "unzipped"), str(root / "inspect" / "unzipped"), str(Path(upload).parent)):
        text = text.replace(folder + os.sep, "")
    return text


def build_app(bases: list[str] | None = None, max_shots: int = 200):
    """The demo as a ``gr.Blocks`` (not launched)."""
    if gr is None:
        raise FlexPoseError("the demo needs gradio: pip install 'flexpose-hf[demo]'")
    from ..adaptation.methods import METHODS

    def inspect(target: str | None, base: str, request: gr.Request) -> str:
        if target is None:
            return ""
        root = session_root(request)
        try:
            return "**Upload:** " + jobs.describe_upload(jobs.check_upload(target, root / "inspect"), base)
        except FlexPoseError as exc:
            raise gr.Error(readable(exc, target, root), title="This upload cannot be used") from None
        finally:
            jobs.clear_folder(root / "inspect")

    def adapt(target: str | None, method: str, shots: float, base: str, request: gr.Request,
              progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008 (Gradio's idiom)
        if target is None:
            raise gr.Error("Upload target poses first, or press 'Use the bundled demo poses'.", title="No poses")
        root = session_root(request)
        jobs.clear_folder(root / "run")  # the previous run's files were already handed to Gradio's cache
        work = root / "run"
        work.mkdir(parents=True)
        try:
            progress(0, desc="reading the poses")
            source = jobs.check_upload(target, work)
            def step(done: int, total: int) -> None:  # every 10th step: Gradio's tqdm tracking cost ~2 s a run
                if done % 10 == 0 or done == total:
                    progress(done / total, desc=f"adapting: step {done} of {total}")

            result = jobs.run_demo_adaptation(source, work, base=base or DEFAULT_BASE, method=method,
                                              shots=int(shots), progress=step)
        except FlexPoseError as exc:
            raise gr.Error(readable(exc, target, root), title="Adaptation refused") from None
        return (str(result.grid), str(result.samples), jobs.api_metrics(result.metrics), str(result.adapter_zip),
                str(result.openpose_zip) if result.openpose_zip else None, [str(p) for p in result.gallery],
                jobs.metrics_markdown(result.metrics), result.summary, str(result.samples_parquet))

    def demo_poses(request: gr.Request) -> str:
        # a copy in the session folder: Gradio serves files from temporary folders wherever the package lives
        copy = session_root(request) / jobs.DEMO_POSES.name
        shutil.copyfile(jobs.DEMO_POSES, copy)
        return str(copy)

    def forget_session(request: gr.Request) -> None:
        jobs.clear_folder(session_root(request))

    with gr.Blocks(title="FlexPose demo", delete_cache=(1800, 3600)) as app:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                base = gr.Dropdown(bases or list(BUNDLED), value=DEFAULT_BASE, allow_custom_value=True,
                                   label="Base generator", info="a bundled name or a Hub repo id", elem_id="base")
                target = gr.File(label="Target poses", file_types=[".json", ".csv", ".mat", ".pts", ".zip", ".npz", ".parquet"],
                                 elem_id="target")
                demo_button = gr.Button("Use the bundled demo poses (10 COCO persons)", elem_id="demo-poses")
                upload_info = gr.Markdown(elem_id="upload-info")
                method = gr.Dropdown(list(METHODS), value="tau", label="Method",
                                     info="tau is FlexPose; the others are the baselines", elem_id="method")
                shots = gr.Slider(1, max_shots, value=10, step=1, label="Shots (target poses used to adapt)",
                                  elem_id="shots")
                adapt_button = gr.Button("Adapt", variant="primary", elem_id="adapt")
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="status")
                grid = gr.Image(label="source / adapted from the same noise / target shots", type="filepath",
                                elem_id="grid")
                table = gr.Markdown(elem_id="metrics-table")
                with gr.Row():
                    samples = gr.File(label="1,000 adapted samples (COCO JSON)", elem_id="samples")
                    samples_parquet = gr.File(label="the same samples (Parquet dataset)", elem_id="samples-parquet")
                with gr.Row():
                    adapter = gr.File(label="Adapter (zip, Hub layout)", elem_id="adapter")
                    openpose = gr.File(label="OpenPose conditioning images (zip)", elem_id="openpose")
                gallery = gr.Gallery(label="OpenPose drawings of adapted samples", columns=4, elem_id="gallery")
                with gr.Accordion("Metrics (JSON)", open=False):
                    metrics = gr.JSON(elem_id="metrics")

        demo_button.click(demo_poses, outputs=target, api_name=False)
        target.change(inspect, inputs=[target, base], outputs=upload_info, api_name=False)
        base.change(inspect, inputs=[target, base], outputs=upload_info, api_name=False)
        adapt_button.click(adapt, inputs=[target, method, shots, base],
                           outputs=[grid, samples, metrics, adapter, openpose, gallery, table, status, samples_parquet],
                           api_name="adapt", concurrency_limit=1, show_progress_on=[grid])
        app.unload(forget_session)
    return app


def launch(port: int | None = None, share: bool = False, server_name: str | None = None, **kwargs):
    """Build and serve the demo (blocking)."""
    app = build_app()
    app.queue(default_concurrency_limit=2).launch(server_port=port, share=share, server_name=server_name,
                                                  max_file_size=f"{jobs.MAX_UPLOAD_MB}mb", **kwargs)
