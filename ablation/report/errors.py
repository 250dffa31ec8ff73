"""The one error type the report raises for problems a user can fix."""


class ReportError(Exception):
    """A report could not be built; the message says what was wrong and what to do."""
