# SPDX-License-Identifier: MIT
"""Where the rig's parts are: this directory, the clone, and build/xenrig."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build", "xenrig")
HVMLOADER_BUILD = os.path.join(ROOT, "build", "hvmloader")    # make hvmloader


def log(msg):
    print(f"xenrig: {msg}", file=sys.stderr, flush=True)
