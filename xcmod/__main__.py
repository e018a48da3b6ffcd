# SPDX-License-Identifier: MIT
import sys

try:
    from .cli import console_main

    if __name__ == "__main__":
        console_main()
except KeyboardInterrupt:
    # ^C while starting or parsing, before a command ran (main() itself says what
    # a command that was running had done).
    sys.stderr.write("xcmod: interrupted before any command ran: nothing read or written\n")
    sys.exit(130)
