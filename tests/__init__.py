"""The test suite. A package so that tests import their shared helpers as `tests.helpers`."""
