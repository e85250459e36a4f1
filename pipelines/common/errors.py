"""The one error type a user may see from ingestion: a single line naming the file and the problem."""


class IngestError(Exception):
    """A file that cannot be read at all. ``str(error)`` is the one line shown to the user."""

    def __init__(self, file_name: str, problem: str):
        self.file_name = file_name
        self.problem = problem
        super().__init__(f"{file_name}: {problem}")


class ChoiceNeeded(IngestError):
    """A file that loads once the user chooses what it cannot tell: ``choice`` is "sheet", "scale" or "column".

    Each face says how in its own words (the Upload page has a box or a drop-down for it, the
    command line a flag); the message itself names neither.
    """

    def __init__(self, file_name: str, problem: str, choice: str):
        self.choice = choice
        super().__init__(file_name, problem)


class ColumnNotFound(ChoiceNeeded):
    """No column of the file can be read as ``column`` (or more than one could): the user must choose one."""

    def __init__(self, file_name: str, problem: str, column: str):
        self.column = column
        super().__init__(file_name, problem, "column")
