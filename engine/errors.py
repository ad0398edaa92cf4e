"""Errors the engine reports to users."""


class InputError(ValueError):
    """Bad user input (file, mesh, image, camera, settings).

    The message is one line that names the problem and, where possible, what to pass instead.
    """


class LimitError(InputError):
    """Input larger than a configured limit (pixels, vertices, ...)."""
