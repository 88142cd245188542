"""The one exception type users see: a clear sentence, no traceback."""


class UserError(Exception):
    """Something the user can fix: bad input, a missing file, a wrong option.

    The message is one sentence that says what was wrong and what to do. The CLI prints it
    without a traceback and exits with ``exit_code``.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
