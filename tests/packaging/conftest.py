"""The ``freeze`` marker: tests of a frozen bundle (minutes; see README "Packaging")."""


def pytest_configure(config) -> None:  # noqa: ANN001
    config.addinivalue_line(
        "markers",
        "freeze: builds and smoke-tests the frozen bundle; runs only with OPTISCOPE_FREEZE=1 "
        "(or OPTISCOPE_BUNDLE=path/to/a/built/bundle to smoke-test one already built)",
    )
