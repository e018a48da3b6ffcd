# SPDX-License-Identifier: MIT
"""The verify command: an image or stock blocks checked as hvmloader will check them.

Its own module so that a verify imports the C reader and no firmware parser."""
from ..errors import FormatError
from ..image.blocks import check, read_path
from .common import PROG, _write_json, command


def cmd_verify(args, out, err):
    blocks = read_path(args.image)
    try:
        count = check(blocks)      # an image: by the C reference reader, as hvmloader will
    except FormatError as e:
        if args.json:
            _write_json({"valid": False, "error": e.message, "offset": e.offset,
                         "source": e.source}, out)
        err.write(f"{PROG}: error: {e}\n")
        return 1
    length = sum(len(b) for b in blocks)
    if args.json:
        _write_json({"valid": True, "length": length, "modules": count,
                     "blocks": [b.as_dict() for b in blocks]}, out)
    elif not args.quiet:
        what = (f"{count} module{'s' if count != 1 else ''}" if count is not None else
                ", ".join(f"{b.name} ({len(b)} bytes)" for b in blocks))
        out.write(f"{args.image}: valid, {what}, {length} bytes\n")
    return 0


@command("verify")
def _parser_verify(sub, argparse):
    v = sub.add_parser("verify", help="check an image; exit 1 naming the first problem",
                       description="Validate every module, checksum, padding byte, ACPI "
                       "table and SMBIOS structure of an image with the C reference reader, "
                       "the code hvmloader runs (or each block of a `build --format xen` "
                       "directory as hvmloader walks it).  Exit 0 if valid, 1 with the first "
                       "problem and its offset.")
    v.add_argument("image", metavar="IMAGE|DIR",
                   help="an xcmod image, or a `build --format xen` directory (each block is "
                   "walked as hvmloader walks it)")
    v.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    v.add_argument("--json", action="store_true", help="print {valid, error, offset}")
    v.set_defaults(func=cmd_verify)
