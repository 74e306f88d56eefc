import json

import datasets
import numpy as np
import pytest
import scipy.io

from flexpose_hf import PoseFormatError, few_shot_split, load_poses, pose_arrays, pose_metadata, skeleton_of
from flexpose_hf.io import complete_mask, detect_format
from flexpose_hf.skeletons import get_skeleton

# --- real files ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "relpath, skeleton, rows, complete",
    [
        ("mpii/mpii_dataset.csv", "mpii16", 17372, 11232),
        ("lspet/joints.mat", "lsp14", 10000, None),
        ("coco/person_keypoints_val2017_subset.json", "coco17", 2213, None),
        ("coco/person_keypoints_train2017_subset.json", "coco17", 2155, None),
        ("300w_helen/trainset", "face68", 870, 870),
        ("300w_helen/testset", "face68", 330, 330),
        ("market1501/market-annotation-train.csv", "openpose18", 12936, None),
        ("market1501/market-annotation-test.csv", "openpose18", 19732, None),
    ],
)
def test_real_file_counts(shared_data, relpath, skeleton, rows, complete):
    ds = load_poses(shared_data / relpath)
    assert len(ds) == rows
    assert skeleton_of(ds) == skeleton
    kp, vis = pose_arrays(ds)
    assert kp.dtype == np.float32 and kp.shape == (rows, len(vis[0]), 2)
    assert not vis[np.isnan(kp).any(-1)].any(), "a missing joint is never visible"
    if complete is not None:
        assert int(complete_mask(kp).sum()) == complete


def test_mpii_first_row_values(shared_data):
    ds = load_poses(shared_data / "mpii/mpii_dataset.csv")
    row = ds[0]
    assert row["image"] == "015601864.jpg" and row["record_index"] == 0
    assert row["keypoints"][0] == pytest.approx([620, 394])  # r ankle
    second = np.asarray(ds[1]["keypoints"])
    assert np.isnan(second[0]).all() and second[2] == pytest.approx([806, 543])


def test_complete_only_counts_what_it_drops(shared_data, caplog):
    ds = load_poses(shared_data / "mpii/mpii_dataset.csv", complete_only=True)
    assert len(ds) == 11232
    assert pose_metadata(ds)["dropped_incomplete"] == 17372 - 11232
    assert "dropped 6140 of 17372" in caplog.text


def test_lspet_unlabelled_joints_are_missing(shared_data):
    kp, _ = pose_arrays(load_poses(shared_data / "lspet/joints.mat"))
    assert np.isnan(kp).any(-1).sum() == 16787  # joints flagged 0 in the file


def test_market_coordinates_are_x_then_y(shared_data):
    ds = load_poses(shared_data / "market1501/market-annotation-train.csv")
    first = np.asarray(ds[0]["keypoints"])
    assert first[0] == pytest.approx([39, 8])  # nose: x from keypoints_x, y from keypoints_y
    assert ds[0]["image"] == "0224_c6s1_055726_02.jpg"


def test_convert_on_load(shared_data):
    ds = load_poses(shared_data / "lspet/joints.mat", skeleton="mpii16")
    assert skeleton_of(ds) == "mpii16"
    kp, _ = pose_arrays(ds)
    assert np.isnan(kp[:, 7]).all()  # thorax: LSP lacks it and it is not derivable


# --- formats on small written files -------------------------------------------------------------

def _coco(tmp_path, kps, names=None):
    names = names or ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                      "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
                      "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
    data = {
        "images": [{"id": 7, "file_name": "a.jpg"}],
        "annotations": [{"id": i, "image_id": 7, "keypoints": k} for i, k in enumerate(kps)],
        "categories": [{"id": 1, "name": "person", "keypoints": names}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_visibility_and_missing(tmp_path):
    kp = [10, 20, 2] + [0, 0, 0] + [5, 6, 1] + [1, 1, 2] * 14
    ds = load_poses(_coco(tmp_path, [kp]))
    arr, vis = pose_arrays(ds)
    assert arr[0, 0].tolist() == [10, 20] and vis[0, 0]
    assert np.isnan(arr[0, 1]).all() and not vis[0, 1]
    assert arr[0, 2].tolist() == [5, 6] and not vis[0, 2]  # labelled, occluded
    assert ds[0]["image"] == "a.jpg"


def test_coco_wrong_joint_count_names_record(tmp_path):
    good = [1, 1, 2] * 17
    with pytest.raises(PoseFormatError, match=r"ann.json, record 1: field 'keypoints' must hold 51 numbers.*got 48"):
        load_poses(_coco(tmp_path, [good, good[:48]]))


def test_coco_nan_coordinate_names_record(tmp_path):
    path = _coco(tmp_path, [[1, 1, 2] * 17, [1, 1, 2] * 16 + [float("nan"), 1, 2]])
    with pytest.raises(PoseFormatError, match="record 1: non-finite"):
        load_poses(path)


def test_malformed_json_names_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"annotations": [\n  {"keypoints": [1, 2,\n')
    with pytest.raises(PoseFormatError, match=r"broken.json: malformed JSON at line 3"):
        load_poses(path)


def test_json_of_another_kind(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"people": []}')
    with pytest.raises(PoseFormatError, match="no top-level 'annotations'"):
        load_poses(path)


def test_coco_unknown_joint_names(tmp_path):
    path = _coco(tmp_path, [[1, 1, 2] * 2], names=["a", "b"])
    with pytest.raises(PoseFormatError, match="categories\\[0\\].keypoints"):
        load_poses(path)


CROWDPOSE = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
             "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]


def test_coco_layout_of_another_dataset_is_read_by_joint_name(tmp_path):
    """CrowdPose's 14 joints: no registered skeleton, so one is made from the names and the file's limbs,
    and the poses convert to the MPII base on the joints the two share by name."""
    kp = np.arange(14 * 3, dtype=float).reshape(14, 3)
    kp[:, 2] = 2
    path = _coco(tmp_path, [kp.ravel().tolist()], names=CROWDPOSE)
    data = json.loads(path.read_text())
    data["categories"][0]["skeleton"] = [[13, 14], [14, 1], [1, 3]]  # 1-based, as COCO writes them
    path.write_text(json.dumps(data))
    ds = load_poses(path)
    skeleton = get_skeleton(skeleton_of(ds))
    assert skeleton.joints == tuple(CROWDPOSE) and skeleton.name.startswith("custom14_")
    assert skeleton.limbs == ((12, 13), (13, 0), (0, 2))
    assert (0, 1) in skeleton.flip_pairs and (10, 11) in skeleton.flip_pairs
    assert skeleton_of(load_poses(path)) == skeleton.name  # the same layout, the same skeleton
    inferred = get_skeleton(skeleton_of(load_poses(_coco(tmp_path, [kp.ravel().tolist()], names=CROWDPOSE))))
    assert inferred.name != skeleton.name and (2, 4) in inferred.limbs and (2, 4) not in skeleton.limbs
    on_mpii = load_poses(path, skeleton="mpii16")
    mpii = get_skeleton("mpii16")
    arr, _ = pose_arrays(on_mpii)
    assert arr[0, mpii.index("left_wrist")].tolist() == [12, 13]  # CrowdPose's 5th joint
    assert arr[0, mpii.index("pelvis")].tolist() == [(18 + 21) / 2, (19 + 22) / 2]  # derived from the hips
    assert np.isnan(arr[0, mpii.index("head_top")]).all()  # "head" is not head_top: never guessed


def test_coco_layout_names_are_spelt_canonically_and_limbs_found_by_name(tmp_path):
    names = ["Nose", "head-bottom", "head top", "L_Ear", "r_ear"] + [n.replace("_", " ").title() for n in CROWDPOSE[:12]]
    ds = load_poses(_coco(tmp_path, [[1, 1, 2] * 17], names=names))
    skeleton = get_skeleton(skeleton_of(ds))
    assert skeleton.joints[:6] == ("nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder")
    limbs = {frozenset((skeleton.joints[a], skeleton.joints[b])) for a, b in skeleton.limbs}
    assert frozenset(("left_shoulder", "left_elbow")) in limbs and frozenset(("left_knee", "left_ankle")) in limbs
    assert frozenset(("nose", "left_ankle")) not in limbs
    coco_spelt_otherwise = [n.replace("_", " ").title() for n in get_skeleton("coco17").joints]
    assert skeleton_of(load_poses(_coco(tmp_path, [[1, 1, 2] * 17], names=coco_spelt_otherwise))) == "coco17"


def test_coco_layout_with_unusable_limbs_says_so_and_finds_them_by_name(tmp_path, caplog):
    path = _coco(tmp_path, [[1, 1, 2] * 14], names=CROWDPOSE)
    data = json.loads(path.read_text())
    data["categories"][0]["skeleton"] = [[0, 99]]  # neither 1-based nor in range
    path.write_text(json.dumps(data))
    skeleton = get_skeleton(skeleton_of(load_poses(path)))
    assert "field 'categories[0].skeleton' is not a list of 1-based joint pairs" in caplog.text
    assert (0, 2) in skeleton.limbs  # left shoulder - left elbow, as the registered skeletons join them


def test_coco_layout_with_repeated_joint_names_is_refused(tmp_path):
    path = _coco(tmp_path, [[1, 1, 2] * 3], names=["left_knee", "Left Knee", "right_knee"])
    with pytest.raises(PoseFormatError, match=r"categories\[0\].keypoints.*repeat.*left_knee"):
        load_poses(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(PoseFormatError, match="empty.csv: empty file"):
        load_poses(path)


def test_missing_path(tmp_path):
    with pytest.raises(PoseFormatError, match="no such file"):
        load_poses(tmp_path / "nope.json")


def test_mpii_csv_bad_number_names_row_and_column(tmp_path):
    joints = ["r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax", "upper neck",
              "head top", "r wrist", "r elbow", "r shoulder", "l shoulder", "l elbow", "l wrist"]
    header = ",NAME," + ",".join(f"{j}_X,{j}_Y" for j in joints) + ",Scale,Activity,Category"
    row = "0,a.jpg," + ",".join(["5,6"] * 16) + ",1.0,x,y"
    bad = "0,b.jpg," + ",".join(["5,6"] * 3 + ["oops,6"] + ["5,6"] * 12) + ",1.0,x,y"
    path = tmp_path / "m.csv"
    path.write_text(f"{header}\n{row}\n{bad}\n")
    assert detect_format(path) == "mpii"
    with pytest.raises(PoseFormatError, match=r"record 1: column 'l hip_X'/'l hip_Y' is not a number"):
        load_poses(path)


def test_unknown_csv_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(PoseFormatError, match="unrecognised CSV header"):
        load_poses(path)


def test_pts_with_and_without_header(tmp_path):
    pts = "\n".join(f"{i}.5 {2 * i}.25" for i in range(68))
    (tmp_path / "a.pts").write_text(pts + "\n")
    (tmp_path / "b.pts").write_text("version: 1\nn_points: 68\n{\n" + pts + "\n}\n")
    ds = load_poses(tmp_path)
    kp, _ = pose_arrays(ds)
    assert len(ds) == 2 and skeleton_of(ds) == "face68"
    np.testing.assert_allclose(kp[0], kp[1])
    assert kp[0, 3].tolist() == [3.5, 6.25]


def test_pts_wrong_count_and_empty_folder(tmp_path):
    (tmp_path / "short.pts").write_text("1 2\n3 4\n")
    with pytest.raises(PoseFormatError, match="short.pts: 2 landmarks; skeleton needs 68"):
        load_poses(tmp_path / "short.pts")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(PoseFormatError, match="no .pts files"):
        load_poses(empty)


def test_market_csv_bad_list(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("name:keypoints_y:keypoints_x\na.jpg: [1, 2]: [3, 4]\n")
    with pytest.raises(PoseFormatError, match="record 0: need 18 y and 18 x"):
        load_poses(path)


def test_mat_of_another_kind(tmp_path):
    path = tmp_path / "j.mat"
    scipy.io.savemat(path, {"other": np.zeros(3)})
    with pytest.raises(PoseFormatError, match="no array named 'joints'"):
        load_poses(path)
    path.write_bytes(b"not a matlab file at all" * 10)
    with pytest.raises(PoseFormatError, match="not a readable MATLAB"):
        load_poses(path)


def test_datasets_conventions_keep_the_skeleton(tmp_path, shared_data):
    ds = load_poses(shared_data / "300w_helen/testset")
    ds.save_to_disk(tmp_path / "saved")
    back = datasets.load_from_disk(str(tmp_path / "saved"))
    assert skeleton_of(back) == "face68"
    np.testing.assert_array_equal(pose_arrays(back)[0], pose_arrays(ds)[0])
    ds.to_json(tmp_path / "poses.jsonl")
    assert (tmp_path / "poses.jsonl").read_text().count("\n") == 330
    assert skeleton_of(ds.select(range(3))) == "face68"


def test_few_shot_split_is_seeded_and_disjoint(shared_data):
    ds = load_poses(shared_data / "lspet/joints.mat")
    shots, held = few_shot_split(ds, 10, seed=3)
    again, _ = few_shot_split(ds, 10, seed=3)
    other, _ = few_shot_split(ds, 10, seed=4)
    assert len(shots) == 10 and len(held) == 9990
    assert not set(shots["record_index"]) & set(held["record_index"])
    assert shots["record_index"] == again["record_index"] != other["record_index"]
    assert complete_mask(pose_arrays(shots)[0]).all()


def test_npz_roundtrip(tmp_path):
    from flexpose_hf.io import write_npz

    kp = np.random.default_rng(0).normal(size=(5, 16, 2)).astype(np.float32)
    kp[1, 3] = np.nan
    write_npz(tmp_path / "s.npz", kp, "mpii16")
    ds = load_poses(tmp_path / "s.npz")
    back, vis = pose_arrays(ds)
    np.testing.assert_array_equal(back, kp)
    assert not vis[1, 3] and vis[0].all()


def test_mmpose_mpii_json_matches_the_csv_reader(shared_data, tmp_path):
    """mmpose's MPII JSON written from real MPII CSV rows reads back to the same poses."""
    csv_ds = load_poses(shared_data / "mpii" / "mpii_dataset.csv").select(range(50))
    kp, vis = pose_arrays(csv_ds)
    people = [{"joints": np.nan_to_num(k, nan=-1.0).tolist(), "joints_vis": v.astype(int).tolist(),
               "image": img, "center": [0, 0], "scale": 1.0} for k, v, img in zip(kp, vis, csv_ds["image"])]
    (tmp_path / "mpii_val.json").write_text(json.dumps(people))
    ds = load_poses(tmp_path / "mpii_val.json")
    assert skeleton_of(ds) == "mpii16" and list(ds["image"]) == list(csv_ds["image"])
    np.testing.assert_array_equal(pose_arrays(ds)[0], kp)


def test_mmpose_mpii_json_errors_name_the_record(tmp_path):
    good = {"joints": [[10.0, 20.0]] * 16, "joints_vis": [1] * 16, "image": "a.jpg"}
    (tmp_path / "m.json").write_text(json.dumps([good, {**good, "joints": [[1, 2]] * 15}]))
    with pytest.raises(PoseFormatError, match=r"m.json, record 1: 'joints' is not 16 x/y pairs"):
        load_poses(tmp_path / "m.json")
    (tmp_path / "v.json").write_text(json.dumps([{**good, "joints_vis": [1] * 3}]))
    with pytest.raises(PoseFormatError, match="record 0: 'joints_vis' has 3 entries"):
        load_poses(tmp_path / "v.json")
    (tmp_path / "ok.json").write_text(json.dumps([{**good, "joints_vis": [0] + [1] * 15}]))
    assert np.isnan(np.asarray(load_poses(tmp_path / "ok.json")[0]["keypoints"], float)[0]).all()


def write_penn_video(path, keypoints, visibility, action):
    """A Penn Action label file as the dataset ships it: frames x 13 arrays and the video's action."""
    scipy.io.savemat(path, {"action": action, "pose": "front", "x": keypoints[..., 0], "y": keypoints[..., 1],
                            "visibility": visibility.astype(np.uint8), "train": 1, "nframes": len(keypoints),
                            "bbox": np.zeros((len(keypoints), 4)), "dimensions": [480, 640, len(keypoints)]})


def test_penn_action_labels_folder_reads_every_frame_with_its_video_and_action(tmp_path):
    rng = np.random.default_rng(0)
    labels = tmp_path / "labels"
    labels.mkdir()
    videos = {"0001": (rng.uniform(0, 400, (4, 13, 2)), "squats"), "0002": (rng.uniform(0, 400, (3, 13, 2)), "bowling")}
    hidden = np.zeros((4, 13), bool)
    hidden[1, 5] = True
    for name, (kp, action) in videos.items():
        write_penn_video(labels / f"{name}.mat", kp, ~hidden[: len(kp)], action)
    (labels / "notes.txt").write_text("not a label")
    assert detect_format(labels) == "penn_action" and detect_format(labels / "0002.mat") == "penn_action"
    ds = load_poses(labels)
    assert skeleton_of(ds) == "penn13" and len(ds) == 7
    assert ds["image"][:5] == ["0001/000001.jpg", "0001/000002.jpg", "0001/000003.jpg", "0001/000004.jpg",
                               "0002/000001.jpg"]
    assert ds["action"] == ["squats"] * 4 + ["bowling"] * 3
    kp, vis = pose_arrays(ds)
    np.testing.assert_allclose(kp[:4], videos["0001"][0].astype(np.float32))
    assert not vis[1, 5] and not vis[5, 5] and vis.sum() == 7 * 13 - 2  # occluded in both videos
    assert not np.isnan(kp).any()  # occluded joints are still placed
    assert get_skeleton("penn13").joints[5] == "left_wrist"
    one = load_poses(labels / "0002.mat", skeleton="mpii16")  # by name; pelvis from the hips
    conv = pose_arrays(one)[0]
    s = get_skeleton("mpii16")
    np.testing.assert_allclose(conv[:, s.index("pelvis")], videos["0002"][0][:, 7:9].mean(1), rtol=1e-5)
    assert np.isnan(conv[:, s.index("head_top")]).all() and one["action"] == ["bowling"] * 3


def test_penn_action_bad_files_name_the_problem(tmp_path):
    path = tmp_path / "0001.mat"
    scipy.io.savemat(path, {"x": np.zeros((3, 13)), "y": np.zeros((3, 13)), "visibility": np.ones((3, 12))})
    with pytest.raises(PoseFormatError, match=r"0001.mat: .*'visibility' must all be frames x 13; got \(3, 13\), "):
        load_poses(path, format="penn_action")
    scipy.io.savemat(path, {"x": np.zeros((3, 13)), "visibility": np.ones((3, 13))})
    with pytest.raises(PoseFormatError, match="no array named 'y'"):
        load_poses(path, format="penn_action")
    x = np.zeros((3, 13))
    x[2, 4] = np.nan
    scipy.io.savemat(path, {"x": x, "y": np.zeros((3, 13)), "visibility": np.ones((3, 13))})
    with pytest.raises(PoseFormatError, match="record 2: non-finite coordinate"):
        load_poses(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoseFormatError, match="needs .mat files; found none"):
        load_poses(tmp_path / "empty", format="penn_action")


def test_mpii_csv_keeps_activity_and_category_as_text_columns(shared_data):
    ds = load_poses(shared_data / "mpii" / "mpii_dataset.csv", skeleton="lsp14")
    assert ds["activity"][0] == "curling" and ds["category"][0] == "sports"
    assert ds["activity"].count("yoga, Power") == 283
