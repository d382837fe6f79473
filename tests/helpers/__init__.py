"""Helpers shared by tests of several folders, imported as `tests.helpers.<module>`.

Test files never import each other: what two of them share lives here.
"""
