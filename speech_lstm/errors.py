"""The speech_lstm exception hierarchy.

Every error a user can cause derives from :class:`SpeechLSTMError`, so callers can
catch one class; the subclasses say which stage rejected the input.
"""

__all__ = [
    "SpeechLSTMError",
    "ParameterError",
    "AudioLoadError",
    "ManifestError",
    "CorpusLayoutError",
    "ConfigError",
    "SynthesisError",
]


class SpeechLSTMError(Exception):
    """Base class of every error raised on purpose by speech_lstm."""


class ParameterError(SpeechLSTMError, ValueError):
    """A function argument is out of its documented range or of the wrong kind."""


class AudioLoadError(SpeechLSTMError):
    """An audio file cannot be used: missing, unreadable, empty, silent or non-finite.

    The message always names the file and the reason.
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.path, self.reason))


class ManifestError(SpeechLSTMError):
    """A manifest is malformed or its entries fail validation (all problems listed)."""

    def __init__(self, message, problems=()):
        self.problems = list(problems)
        if self.problems:
            shown = "\n".join(f"  - {p}" for p in self.problems[:50])
            more = len(self.problems) - 50
            if more > 0:
                shown += f"\n  ... and {more} more"
            message = f"{message}\n{shown}"
        self.summary = message
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), ()))


class CorpusLayoutError(ManifestError):
    """A corpus folder given to an importer lacks a file or folder its layout needs (named)."""


class ConfigError(SpeechLSTMError, ValueError):
    """A configuration file or override names an unknown option or a bad value."""


class SynthesisError(SpeechLSTMError):
    """The speech synthesizer failed or a voice is unknown."""
