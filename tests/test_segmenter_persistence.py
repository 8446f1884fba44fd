"""skops persistence: explicit trusted types, refusing unexpected ones, a checked format version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from genemail.errors import ArtifactError
from genemail.segmentation import HierarchicalSegmenter, load_segmenter, save_segmenter
from genemail.segmentation.persistence import FORMAT, FORMAT_VERSION, TRUSTED_TYPES, untrusted_types


class Intruder:
    """A type no GenEmail segmenter contains (stands for anything a crafted file could smuggle in)."""

    def __init__(self) -> None:
        self.payload = "anything"


@pytest.fixture(scope="module")
def fitted(customers: pd.DataFrame) -> HierarchicalSegmenter:
    return HierarchicalSegmenter(max_iter=5, n_augment=0).fit(customers)  # small: skops walks every tree


@pytest.fixture(scope="module")
def saved(fitted: HierarchicalSegmenter, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_segmenter(fitted, tmp_path_factory.mktemp("model"))


def test_round_trip_predicts_the_same(fitted, saved: Path, customers: pd.DataFrame) -> None:  # noqa: ANN001
    assert saved.name == "segmenter.skops"
    loaded = load_segmenter(saved.parent)  # a directory works as well as the file
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict(customers), fitted.predict(customers))
    np.testing.assert_allclose(loaded.predict_proba(customers), fitted.predict_proba(customers))
    assert loaded.explain(customers.head(3)) == fitted.explain(customers.head(3))


def test_saved_file_needs_only_the_trusted_list(saved: Path) -> None:
    found = sio.get_untrusted_types(file=saved)
    assert found, "skops trusts everything by default? then TRUSTED_TYPES is pointless"
    assert set(found) <= set(TRUSTED_TYPES)
    assert untrusted_types(saved) == []
    with pytest.raises(TypeError):  # and skops alone, with no trust list, refuses it
        sio.load(saved)


def test_unexpected_type_is_refused(fitted, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "crafted.skops"
    sio.dump({"format": FORMAT, "format_version": FORMAT_VERSION, "model": fitted, "extra": Intruder()}, path)
    assert "tests.test_segmenter_persistence.Intruder" in sio.get_untrusted_types(file=path)
    with pytest.raises(ArtifactError, match="Intruder") as info:
        load_segmenter(path)
    assert "does not trust" in str(info.value) and str(path) in str(info.value)


def test_format_version_is_checked(fitted, tmp_path: Path) -> None:  # noqa: ANN001
    newer = tmp_path / "newer.skops"
    sio.dump({"format": FORMAT, "format_version": FORMAT_VERSION + 1, "model": fitted}, newer)
    with pytest.raises(ArtifactError, match="format version"):
        load_segmenter(newer)
    bare = tmp_path / "bare.skops"
    sio.dump(fitted, bare)  # a plain skops dump without GenEmail's envelope
    with pytest.raises(ArtifactError, match="format marker"):
        load_segmenter(bare)


def test_missing_corrupt_and_unfitted(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no saved segmenter") as info:
        load_segmenter(tmp_path / "nowhere")
    assert "train_segmenter" in str(info.value)
    (tmp_path / "segmenter.skops").write_bytes(b"not a zip file")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        load_segmenter(tmp_path)
    with pytest.raises(ArtifactError, match="not fitted"):
        save_segmenter(HierarchicalSegmenter(), tmp_path / "x")


def test_a_prd_trained_model_keeps_its_feature_groups(customers: pd.DataFrame, tmp_path: Path) -> None:
    prd = customers.copy()
    prd[[c for c in prd.columns if c.startswith(("spend_", "purchases_"))] +
        ["total_spend", "total_purchases", "tenure_days", "purchase_frequency", "web_visits_month",
         "accepted_campaigns", "favourite_category"]] = np.nan
    model = HierarchicalSegmenter(max_iter=5, n_augment=1).fit(prd)
    assert set(model.feature_groups_) == {"income", "activity", "family", "age"}
    assert model.missing_feature_groups_ == ["spend", "purchases", "history"]
    assert model.value_features_ == ("log_income",)
    loaded = load_segmenter(save_segmenter(model, tmp_path))
    assert loaded.feature_groups_ == model.feature_groups_
    np.testing.assert_array_equal(loaded.predict(prd), model.predict(prd))
    # A Kaggle-schema row is scored by the same model from the groups it knows.
    assert set(loaded.predict(customers.head(20))) <= set(model.classes_)
