"""Modules the frozen bundle leaves out although static imports reach them.

Optiscope uses only ``sklearn.datasets`` of scikit-learn and never compiles with torch
(networkx, setuptools), so these are dead weight in the installer (~10 MB compressed).
``tests/packaging/test_unused_modules.py`` runs every preset, ``surface``, ``lr-find`` and the
window's engine load in the source install and fails if any of them imports one of these, so
a new import in the engine cannot silently break the frozen app.
"""

SKLEARN = (
    "cluster",
    "tree",
    "svm",
    "neighbors",
    "linear_model",
    "ensemble",
    "manifold",
    "decomposition",
    "metrics",
    "model_selection",
    "mixture",
    "neural_network",
    "gaussian_process",
    "semi_supervised",
    "covariance",
    "cross_decomposition",
    "feature_selection",
    "impute",
    "inspection",
    "experimental",
    "calibration",
    "isotonic",
    "kernel_approximation",
    "kernel_ridge",
    "discriminant_analysis",
    "multiclass",
    "multioutput",
    "naive_bayes",
    "random_projection",
    "dummy",
    "compose",
    "pipeline",
    "frozen",
    "tests",
)
SCIPY = ("signal", "cluster", "odr", "datasets", "misc", "differentiate")

UNUSED_MODULES = (
    *(f"sklearn.{name}" for name in SKLEARN),
    *(f"scipy.{name}" for name in SCIPY),
    "networkx",
    "setuptools",
    "pkg_resources",
)
