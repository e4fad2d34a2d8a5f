"""The command-line convention of every entry point: a user error is one line `error: ...` on stderr naming the
file, line, field or option, exit status 2, no traceback; Ctrl-C is one line and exit status 130.

    @command
    def main(argv=None): ...          # raise UserError (or a subclass) for anything the user can fix

    parser = ArgumentParser(...)      # argparse whose errors follow the same convention
"""
import argparse
import errno
import functools
import sys

USER_ERROR = 2
INTERRUPTED = 130


class UserError(Exception):
    """Something the user can fix (bad input file, option, checkpoint, full disk, ...); the message says what."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose errors print one `error: ...` line and exit with status 2."""

    def error(self, message):
        self.exit(USER_ERROR, f"error: {message} (see --help)\n")


def describe_os_error(e: OSError) -> str:
    """One line for an OSError: the file and the reason, e.g. `results/x.ckpt: no space left on device`."""
    name = e.filename if e.filename is not None else ""
    reason = e.strerror or str(e)
    if e.errno == errno.ENOSPC:
        reason = "no space left on device"
    return f"{name}: {reason}" if name else reason


def one_line(e: BaseException) -> str:
    """The message of e on one line. An error raised in a DataLoader worker comes back with the worker's traceback
    in its message ("Caught DataError in DataLoader worker process 0. Original Traceback ..."): its last line holds
    the original message."""
    msg = str(e)
    if "\nOriginal Traceback" in msg:
        name, sep, rest = msg.rstrip().splitlines()[-1].partition(": ")
        if sep and " " not in name:
            return rest
    return msg


def command(main):
    """Decorator for a command-line `main(argv=None) -> int`: applies the convention above.

    UserError, OSError (full disk, read-only folder, missing file) and the ValueError subclasses that name
    their input (DataError, SubmissionError) are printed as one line and give exit status 2.
    """
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except SystemExit as e:  # argparse (--help, option errors): its status, the message is already printed
            return e.code
        except KeyboardInterrupt as e:
            detail = f": {e}" if str(e) else ""
            print(f"error: interrupted{detail}", file=sys.stderr)
            return INTERRUPTED
        except OSError as e:
            print(f"error: {describe_os_error(e)}", file=sys.stderr)
            return USER_ERROR
        except UserError as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            return USER_ERROR
    return wrapper
