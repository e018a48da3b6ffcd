import sys

try:
    from .cli import _stdout, main

    if __name__ == "__main__":
        sys.exit(main(sys.argv[1:], _stdout()))
except KeyboardInterrupt:
    # ^C while starting or parsing, before a command ran (main() itself says what
    # a command that was running had done).
    sys.stderr.write("xcmod: interrupted before any command ran: nothing read or written\n")
    sys.exit(130)
