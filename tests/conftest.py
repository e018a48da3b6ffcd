import io
import os
import subprocess

import pytest

from xcmod.cli import main

from .paths import BUILD, XCMOD_READ


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def cli():
    """Run ``xcmod ARGV`` in-process; return code, stdout and stderr."""
    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        code = main([str(a) for a in argv], out, err)
        return CliResult(code, out.getvalue(), err.getvalue())
    return run


@pytest.fixture(scope="session")
def xcmod_read():
    """Path to build/xcmod-read, built by make if it is missing."""
    if not os.path.exists(XCMOD_READ):
        subprocess.run(["make", "-s", os.path.relpath(XCMOD_READ, os.path.dirname(BUILD))],
                       cwd=os.path.dirname(BUILD), check=True)
    return XCMOD_READ


def c_read(xcmod_read, path):
    """Run the C reference reader on ``path``."""
    return subprocess.run([xcmod_read, str(path)], capture_output=True, text=True)
