"""The store's limits that tracking/schema.py keeps as numbers (so that reading tag names
never imports MLflow) still agree with the installed MLflow."""

from mlflow.utils import validation

from ablation.tracking import schema


def test_the_limits_we_keep_are_mlflows():
    assert schema.MAX_PARAM_LEN == validation.MAX_PARAM_VAL_LENGTH
    assert schema.MAX_TAG_LEN == validation.MAX_TAG_VAL_LENGTH
