import os
import tempfile

# Qt must never try to open a display in the test suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The run store, the CSV cache and the GUI's settings go to a throw-away folder, never the
# user's own (every process the tests start inherits this too).
os.environ["OPTISCOPE_HOME"] = tempfile.mkdtemp(prefix="optiscope-tests-")
