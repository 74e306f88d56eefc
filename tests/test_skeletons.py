import numpy as np
import pytest

from flexpose_hf import SkeletonError, convert_keypoints, get_skeleton, list_skeletons
from flexpose_hf.skeletons import Skeleton, shared_joints


def test_registry_has_required_skeletons():
    for name, joints in [("coco17", 17), ("mpii16", 16), ("lsp14", 14), ("openpose18", 18), ("face68", 68)]:
        assert get_skeleton(name).num_joints == joints
    assert set(list_skeletons()) >= {"coco17", "mpii16", "lsp14", "openpose18", "face68"}


def test_openpose_order_and_limbs():
    op = get_skeleton("openpose18")
    assert op.joints[:5] == ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist")
    assert op.joints[-4:] == ("right_eye", "left_eye", "right_ear", "left_ear")
    assert len(op.limbs) == 17 and op.limbs[0] == (1, 2)


def test_unknown_skeleton_names_the_choices():
    with pytest.raises(SkeletonError, match="unknown skeleton 'body99'.*coco17"):
        get_skeleton("body99")


@pytest.mark.parametrize("name", ["coco17", "mpii16", "lsp14", "openpose18", "face68"])
def test_flip_permutation_is_an_involution_that_swaps_sides(name):
    s = get_skeleton(name)
    perm = s.flip_permutation()
    assert (perm[perm] == np.arange(s.num_joints)).all()
    for i, j in enumerate(perm):
        if name != "face68" and s.joints[i].startswith("left_"):
            assert s.joints[j] == "right_" + s.joints[i][5:]


def test_face68_mirror_pairs_jaw_ends():
    face = get_skeleton("face68")
    perm = face.flip_permutation()
    assert perm[0] == 16 and perm[8] == 8 and perm[36] == 45 and perm[48] == 54


def test_convert_coco_to_openpose_derives_only_neck():
    coco = get_skeleton("coco17")
    kp = np.arange(34, dtype=np.float32).reshape(17, 2)
    out, vis = convert_keypoints(kp, None, "coco17", "openpose18")
    op = get_skeleton("openpose18")
    mid = (kp[coco.index("left_shoulder")] + kp[coco.index("right_shoulder")]) / 2
    np.testing.assert_allclose(out[op.index("neck")], mid)
    np.testing.assert_allclose(out[op.index("left_wrist")], kp[coco.index("left_wrist")])
    assert vis.all()


def test_convert_never_invents_joints():
    kp = np.zeros((2, 16, 2), np.float32)
    out, vis = convert_keypoints(kp, None, "mpii16", "coco17")
    coco = get_skeleton("coco17")
    for face_joint in ("nose", "left_eye", "right_ear"):
        assert np.isnan(out[:, coco.index(face_joint)]).all()
        assert not vis[:, coco.index(face_joint)].any()
    # A missing parent makes the derived joint missing too.
    kp = np.zeros((17, 2), np.float32)
    kp[get_skeleton("coco17").index("left_shoulder")] = np.nan
    out, _ = convert_keypoints(kp, None, "coco17", "openpose18")
    assert np.isnan(out[get_skeleton("openpose18").index("neck")]).all()


def test_convert_rejects_wrong_joint_count():
    with pytest.raises(SkeletonError, match="do not fit skeleton 'coco17'"):
        convert_keypoints(np.zeros((5, 16, 2)), None, "coco17", "mpii16")


def test_shared_joints_of_mpii_and_lsp():
    shared = shared_joints("mpii16", "lsp14")
    assert len(shared) == 14 and "head_top" in shared and "upper_neck" in shared


def test_bad_skeleton_definition():
    with pytest.raises(SkeletonError, match="out of range"):
        Skeleton("bad", ("a", "b"), ((0, 2),))
