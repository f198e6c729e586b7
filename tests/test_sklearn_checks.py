"""scikit-learn's own estimator checks on OnlineLDA, against its LatentDirichletAllocation.

This module needs only scikit-learn, NumPy and pytest: ``.ci/run`` runs it a second time
under the oldest scikit-learn the project supports (``pyproject.toml``). scikit-learn 1.6
replaced the tags behind ``check_estimator`` (``__sklearn_tags__`` for ``_more_tags``)
and gave it ``on_fail``; each test takes the form its version offers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from svi_lda import NotFittedError, OnlineLDA

pytest.importorskip("sklearn")

import sklearn.utils  # noqa: E402
from sklearn.decomposition import LatentDirichletAllocation  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

HAS_SKLEARN_TAGS = hasattr(sklearn.utils, "get_tags")  # scikit-learn >= 1.6

# scikit-learn warns that OnlineLDA does not inherit its BaseEstimator: it does not, on
# purpose (scikit-learn stays optional and is never imported by `import svi_lda`).
NOT_INHERITED = "ignore:Estimator OnlineLDA does not inherit"


def _statuses(estimator) -> list[tuple[str, str]]:
    return [(r["check_name"], r["status"]) for r in check_estimator(estimator, on_fail=None)]


@pytest.mark.filterwarnings(NOT_INHERITED)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_check_estimator_passes_every_check_scikit_learns_lda_passes():
    if not HAS_SKLEARN_TAGS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skipped checks warn
            check_estimator(OnlineLDA())  # raises at the first failing check
        return
    ours = _statuses(OnlineLDA())
    theirs = _statuses(LatentDirichletAllocation(max_iter=5, batch_size=10))
    not_passed = [(name, status) for name, status in ours if status != "passed"]
    skipped_by_theirs = {name for name, status in theirs if status == "skipped"}
    assert all(
        status == "skipped" and name in skipped_by_theirs for name, status in not_passed
    ), not_passed
    assert {name for name, _ in theirs} <= {name for name, _ in ours}
    assert len(ours) >= 40


def test_tags_are_scikit_learns_lda_tags():
    if not HAS_SKLEARN_TAGS:
        from sklearn.utils._tags import _safe_tags

        assert _safe_tags(OnlineLDA()) == _safe_tags(LatentDirichletAllocation())
        return
    expected = sklearn.utils.get_tags(LatentDirichletAllocation())
    # scikit-learn < 1.7 leaves LDA's sparse tag False although it takes sparse input.
    expected.input_tags.sparse = True
    assert sklearn.utils.get_tags(OnlineLDA()) == expected


def test_not_fitted_error_is_scikit_learns_too():
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    from sklearn.utils.validation import check_is_fitted

    X = np.ones((3, 4))
    for call in (lambda m: m.transform(X), lambda m: m.components_):
        with pytest.raises(SklearnNotFittedError) as info:
            call(OnlineLDA(2))
        assert isinstance(info.value, NotFittedError)  # svi_lda's, as without scikit-learn
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(OnlineLDA(2))
    check_is_fitted(OnlineLDA(2, max_iter=1, n_jobs=1).fit(X))


@pytest.mark.filterwarnings(NOT_INHERITED)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("params", [{"learning_method": "batch"}, {"learning_method": "cvb0"},
                                    {"dtype": "float64", "doc_topic_prior": "auto"}])
def test_check_estimator_passes_in_the_other_modes(params):
    if not HAS_SKLEARN_TAGS:
        pytest.skip("the default mode is checked on this scikit-learn")
    failed = [name for name, status in _statuses(OnlineLDA(**params)) if status == "failed"]
    assert failed == []
