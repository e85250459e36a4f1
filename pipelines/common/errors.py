"""The one error type a user may see from ingestion: a single line naming the file and the problem."""


class IngestError(Exception):
    """A file that cannot be read at all. ``str(error)`` is the one line shown to the user."""

    def __init__(self, file_name: str, problem: str):
        self.file_name = file_name
        self.problem = problem
        super().__init__(f"{file_name}: {problem}")
