import os

# Qt must never try to open a display in the test suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
