"""Exception types. Messages name the file, the field, what was expected, what was found, and the fix."""


class VlaforgeError(Exception):
    """Base class for errors caused by user input; the CLI prints them without a traceback."""

    exit_code = 1  # what `vlaforge` exits with when this error stops a command


class DatasetError(VlaforgeError):
    """A dataset on disk is missing, corrupt, half-written or inconsistent."""


class SourceFormatError(DatasetError):
    """A file in a foreign format (robomimic HDF5, RLDS TFRecord, ...) is malformed; the message names file and field."""


class FeatureMismatch(VlaforgeError):
    """Two feature specs (dataset, policy, env, request) disagree on names, shapes, dtypes or fps."""


class CheckpointError(VlaforgeError):
    """A checkpoint is missing pieces or does not match the data or env it is used with."""


class ConfigError(VlaforgeError):
    """A config file or command-line override names an unknown key or holds a bad value."""

    exit_code = 2  # a usage error, like argparse's own


class NonFiniteAction(VlaforgeError):
    """The policy produced NaN or inf for an input (usually far outside the training range); no action is sent."""


class VersionConflict(VlaforgeError):
    """A save was based on a dataset version that is no longer the latest one; nothing was written."""


class BackendError(VlaforgeError):
    """A job backend cannot run the work: no Ray cluster at the address given, or a worker died."""


class MissingExtra(ConfigError):
    """An optional dependency (an extra such as `vlaforge[metaworld]`) is not installed or does not import."""
