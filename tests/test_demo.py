"""The browser demo: upload handling, and the page driven in real headless Chromium."""

from __future__ import annotations

import json
import shutil
import socket
import time
import zipfile
from pathlib import Path

import pytest

from flexpose_hf.demo import jobs
from flexpose_hf.errors import PoseFormatError

FACES = Path(__file__).parent / "data"


def test_upload_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 * 2**20))
    monkeypatch.setattr(jobs, "MAX_UPLOAD_MB", 1)
    with pytest.raises(PoseFormatError, match=r"big.json: 2 MB is more than the demo reads \(1 MB\)"):
        jobs.check_upload(big, tmp_path)


def test_zip_of_pts_is_unpacked_by_base_name(tmp_path):
    pts = "version: 1\nn_points: 68\n{\n" + "\n".join(f"{i} {i % 7}" for i in range(68)) + "\n}\n"
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("faces/a.pts", pts)
        zf.writestr("../../escape/b.pts", pts)
        zf.writestr("notes.txt", "ignored")
    folder = jobs.check_upload(archive, tmp_path / "work")
    assert sorted(p.name for p in folder.iterdir()) == ["a.pts", "b.pts"]
    assert folder.is_relative_to(tmp_path / "work")
    assert "2 poses on the face68 skeleton" in jobs.describe_upload(folder, "helen-face")


def test_bad_zip_and_zip_without_pts_are_named(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(PoseFormatError, match="broken.zip: not a readable zip archive"):
        jobs.check_upload(tmp_path / "broken.zip", tmp_path / "w")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(PoseFormatError, match="empty.zip: the zip holds no .pts files"):
        jobs.check_upload(tmp_path / "empty.zip", tmp_path / "w")


def test_metrics_table_says_when_the_adapter_scores_worse_than_the_source():
    """Only against poses that were not shots, and only beyond one draw's noise."""
    def figures(nn1: float) -> dict:
        return {"nn1": nn1, "coverage": 0.8, "precision": 0.9, "recall": 0.9}

    def table(adapted_nn1: float, held_out: bool) -> str:
        metrics = {"compared_with": "some poses", "source": figures(0.62), "adapted": figures(adapted_nn1)}
        return jobs.metrics_markdown({**metrics, **({"held_out_poses": 40} if held_out else {})})

    note = "further from these poses than the source's"
    assert "| nn1 (0.5 = indistinguishable) | 0.620 | 0.650 |" in table(0.65, True)
    assert note in table(0.65, True)
    assert note not in table(0.625, True) and note not in table(0.60, True)
    assert note not in table(0.65, False)  # compared with the shots themselves: not the question


def test_upload_sharing_too_few_joints_gives_the_cli_message(tmp_path):
    with pytest.raises(Exception, match="shares only 0 joints with the base skeleton 'face68'"):
        jobs.describe_upload(jobs.DEMO_POSES, "helen-face")


# --- the page in a real browser -------------------------------------------------------------------

def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("no Chromium with chromedriver on this machine (Debian: apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_demo():
    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[demo]')")
    from flexpose_hf.demo import build_app

    port = _free_port()
    app = build_app()
    app.queue(default_concurrency_limit=2).launch(server_port=port, prevent_thread_lock=True, quiet=True,
                                                  max_file_size=f"{jobs.MAX_UPLOAD_MB}mb")
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture()
def browser(tmp_path):
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2200"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def _wait(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _upload(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#target input[type=file]").send_keys(str(path))


def test_page_adapts_to_the_demo_poses_and_serves_samples(served_demo, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(served_demo)
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#adapt"), 60, "the page")
    for _ in range(6):  # a click that lands before the page has wired its events is lost: click again
        browser.find_element(By.CSS_SELECTOR, "#demo-poses").click()
        try:
            _wait(lambda: "10 poses on the coco17 skeleton" in browser.find_element(By.ID, "upload-info").text,
                  10, "the upload summary")
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the demo poses never reached the page")
    started = time.time()
    browser.find_element(By.CSS_SELECTOR, "#adapt").click()
    _wait(lambda: [im for im in browser.find_elements(By.CSS_SELECTOR, "#grid img")
                   if (im.get_attribute("naturalWidth") or "0") != "0"], 240, "the grid picture, loaded")
    seconds = time.time() - started
    assert "nn1" in browser.find_element(By.ID, "metrics-table").text
    _wait(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#gallery img")) >= 8, 60, "the OpenPose gallery")
    browser.save_screenshot(str(tmp_path / "adapted.png"))
    link = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, '#samples a[download="samples.json"]'), 60,
                 "the samples download link")
    link[0].click()
    downloaded = tmp_path / "downloads" / "samples.json"
    _wait(downloaded.exists, 60, "the downloaded samples")
    document = json.loads(downloaded.read_text())
    assert len(document["annotations"]) == 1000
    assert len(document["annotations"][0]["keypoints"]) == 16 * 3
    assert (tmp_path / "adapted.png").stat().st_size > 10_000
    print(f"adapt in the browser: {seconds:.1f} s")


def test_bad_upload_is_explained_while_another_session_adapts(served_demo, browser, tmp_path):
    from gradio_client import Client, handle_file
    from selenium.webdriver.common.by import By

    other = Client(served_demo, verbose=False).submit(handle_file(str(jobs.DEMO_POSES)), "tau", 4, "mpii-body",
                                                      api_name="/adapt")
    bad = tmp_path / "not_poses.json"
    bad.write_text('{"hello": 1}')
    browser.get(served_demo)
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#adapt"), 60, "the page")
    message = "not_poses.json: not a COCO keypoints file: no top-level 'annotations' list"
    for _ in range(4):  # as above: an upload before the page has wired its events goes unnoticed
        _upload(browser, bad)
        try:
            _wait(lambda: message in browser.find_element(By.TAG_NAME, "body").text, 15, "the error message")
            break
        except AssertionError:
            continue
    else:
        raise AssertionError("the page never showed the upload's error")
    browser.save_screenshot(str(tmp_path / "bad_upload.png"))
    assert not other.done(), "the other session's adaptation should still be running"
    grid, samples, metrics, *_, parquet = other.result(timeout=300)
    import datasets

    assert len(datasets.load_dataset("parquet", data_files=parquet, split="train")) == 1000
    assert metrics["num_shots"] == 4 and metrics["compared_with"].startswith("the 6 uploaded poses not used")
    assert Path(grid).is_file() and len(json.loads(Path(samples).read_text())["annotations"]) == 1000


def test_space_template_lists_the_package_dependencies_and_builds_the_app():
    import re
    import runpy
    import tomllib

    pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[demo]')")
    space = Path(__file__).resolve().parents[1] / "examples" / "space"
    header = (space / "README.md").read_text().split("---")[1]
    assert "sdk: gradio" in header and "app_file: app.py" in header
    wanted = tomllib.loads((space.parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    listed = {re.split(r"[<>=\[ ]", line)[0].lower() for line in (space / "requirements.txt").read_text().splitlines()
              if line and not line.startswith(("#", "-"))}
    missing = {re.split(r"[<>=\[ ]", dep)[0].lower() for dep in wanted} - listed
    assert not missing, f"examples/space/requirements.txt lacks {sorted(missing)}"
    assert "gradio" in listed
    namespace = runpy.run_path(str(space / "app.py"), run_name="space")
    assert type(namespace["demo"]).__name__ == "Blocks"
