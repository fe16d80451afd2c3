"""Modules the frozen bundle leaves out although static imports reach them.

Optiscope uses only ``sklearn.datasets`` of scikit-learn and never compiles with torch
(networkx, setuptools, torch's code generators and test suites), keeps its search studies in
SQLite/PostgreSQL/journal files (no MySQL, Oracle or MSSQL dialects, no async engines) and draws
with pyqtgraph, not Optuna's plotly figures: dead weight in the installer (~20 MB compressed).
``tests/packaging/test_unused_modules.py`` runs every preset, every dataset, ``surface``,
``lr-find``, ``search``, ``record``, ``gradcheck``, ``recipe`` and the window in the source
install and fails if any of them imports one of these, so a new import cannot silently break
the frozen app.
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

# torch: compilation (inductor code generation), distributed training, its own test suite,
# quantisation tooling, benchmark and ROCm/C++-extension helpers
TORCH = (
    # torch.testing._internal itself is imported (torch.utils.checkpoint); its test suites are not
    "testing._internal.common_methods_invocations",
    "testing._internal.opinfo",
    "testing._internal.generated",
    "testing._internal.distributed.rpc",
    "testing._internal.distributed.distributed_test",
    "testing._internal.common_nn",
    "testing._internal.common_modules",
    "testing._internal.common_quantization",
    "_inductor.codegen",
    "_inductor.fx_passes",
    "_inductor.kernel",
    "_inductor.autoheuristic",
    "_inductor.select_algorithm",
    "_inductor.template_heuristics",
    "_vendor.quack",
    "_export.serde",
    "sparse._triton_ops_meta",
    "distributed.checkpoint",
    "distributed.elastic",
    "distributed.pipelining",
    "distributed._tools",
    "distributed.optim",
    "ao.quantization.fx",
    "ao.ns",
    "ao.pruning",
    "fx.experimental.migrate_gradual_types",
    "utils.benchmark",
    "utils.hipify",
    "utils.cpp_extension",
)
OTHERS = (
    "scipy.io._fast_matrix_market._fmm_core",  # Matrix Market reader (4 MB compiled; loaded lazily)
    "scipy._lib.cobyqa",
    "scipy._lib.pyprima",
    "sympy.combinatorics",
    "sympy.physics",
    "sympy.vector",
    "pydantic.v1",
    "sqlalchemy.dialects.mysql",
    "sqlalchemy.dialects.oracle",
    "sqlalchemy.dialects.mssql",
    "sqlalchemy.ext.asyncio",
    "optuna.visualization",
    "narwhals._pandas_like",
    "narwhals._arrow",
    "narwhals._polars",
    "narwhals._dask",
    "pyqtgraph.flowchart",
    # Pillow: the app writes GIFs; no Tk, colour management, fonts, AVIF or WebP
    "PIL._avif",
    "PIL.AvifImagePlugin",
    "PIL._webp",
    "PIL.WebPImagePlugin",
    "PIL._imagingcms",
    "PIL.ImageCms",
    "PIL._imagingft",
    "PIL.ImageFont",
    "PIL._imagingtk",
    "PIL.ImageTk",
)

UNUSED_MODULES = (
    *(f"sklearn.{name}" for name in SKLEARN),
    *(f"scipy.{name}" for name in SCIPY),
    *(f"torch.{name}" for name in TORCH),
    *OTHERS,
    "networkx",
    "setuptools",
    "pkg_resources",
)
