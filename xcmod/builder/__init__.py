# SPDX-License-Identifier: MIT
"""The build job: host firmware -> policy -> an xcmod image or stock blocks.

    >>> import xcmod
    >>> r = xcmod.build(smbios="host.dmi", acpi=["slic.dat"])      # doctest: +SKIP
    >>> r.blocks                                                    # doctest: +SKIP
    [Block('image', <1184 bytes>, source=None)]
    >>> xcmod.write_build(r, "mods.bin", manifest="mods.json")      # doctest: +SKIP

- :mod:`.policy`: what a guest may see (TOML policies, built-ins, hvmloader's rules);
- :mod:`.select`: the policy applied to sources: select, scrub, override,
  lint, budget, and a :class:`~.select.Report` of every decision;
- :mod:`.export`: a build handed to xl, QEMU, libvirt or XAPI instead.

:func:`build` reads and decides and raises on anything an operator must fix;
it writes nothing.  :func:`write_build` writes the image (or the blocks),
the manifest and the report, all or none.  The CLI's ``xcmod build`` is
exactly these two calls.  Nothing here imports :mod:`xcmod.xen`.
"""
import errno
import json
import os

from ..checks import bool_arg, path_arg, paths_arg, text_arg, texts_arg
from ..errors import FormatError, PolicyError, UsageError, XcmodError
from ..fileio import plan_outputs, write_all
from ..firmware.acpi import encode_acpi_ids_module, encode_acpi_module, oem_ids as parse_oem_ids
from ..firmware.contents import describe, describe_block
from ..firmware.host import SYSFS_ACPI, SYSFS_DMI
from ..image import stock
from ..image.blocks import ACPI, IMAGE, SMBIOS, STOCK_FILES, Block, check
from ..image.manifest import block_items, measure
from ..image.rules import SMBIOS_PAYLOAD_MAX, check_hvmloader_limits
from ..image.spec import build_image, verify_image
from . import policy as policy_mod
from .select import select, summarize_dropped
from .xenrules import resolve


FORMATS = ("modules", "xen")


class BuildResult:
    """What :func:`build` made: ``blocks`` (one IMAGE block, or the stock SMBIOS/ACPI
    blocks of ``fmt`` "xen"), the :class:`~.select.Selection` and its report."""

    def __init__(self, fmt, blocks, selection, oem_ids=None, inputs=(), nothing=None):
        self.fmt, self.blocks, self.selection, self.oem_ids = fmt, blocks, selection, oem_ids
        self.inputs = list(inputs)      # [(option, path)] read: never written over
        self.nothing = nothing          # dry run that passes nothing: why, one line

    @property
    def report(self):
        return self.selection.report

    @property
    def warnings(self):
        return [f"{w.item}: {w.reason}" for w in self.report.warnings]

    def manifest(self, image_name=None):
        """The launch measurement document (see :mod:`xcmod.image.manifest`)."""
        items = [i for b in self.blocks for i in block_items(b.kind, b.name, b.data)]
        whole = None if self.fmt == "xen" else (image_name or "image", self.blocks[0].data)
        return measure(items, whole)

    def describe(self):
        """The image's (or blocks') description: the same shape ``inspect --json`` gives."""
        if self.fmt == "xen":
            return {"format": "xen", "blocks": [describe_block(b.kind, b.data, b.source)
                                                for b in self.blocks]}
        return describe(self.blocks[0].data)

    def as_dict(self):
        return {**self.describe(), "report": self.report.as_dict()}


def build(smbios=None, acpi=(), orom=(), *, policy=None, xen=None, fmt="modules",
          oem_ids=None, guest=None, secret_file=None, overrides=(), strict=False,
          dry_run=False):
    """Select what passes ``policy`` from the sources and encode it; write nothing.

    ``smbios``/``acpi``/``orom``: source spellings as ``--smbios``/``--acpi``/``--orom``
    take them (``host``, a dump, a directory, a file); ``acpi``, ``orom`` and
    ``overrides`` take one value or a list of them.  ``policy``: a built-in
    name or a TOML file; ``overrides``: ``FIELD=VALUE`` strings; ``fmt``:
    "modules" (an xcmod image) or "xen" (stock hvmloader blocks).  Raises
    UsageError (a misused argument too), FormatError or PolicyError naming the
    source; returns a :class:`BuildResult` whose blocks were read back and
    checked, as hvmloader will check them.  With ``dry_run``, a selection that
    passes nothing is returned (no blocks, ``nothing`` the error's line, the report
    saying why) instead of raised.
    """
    # a source spelling (``host``, ``mem:PATH``, a path) is checked as a path
    smbios = None if smbios is None else path_arg(smbios, "smbios")
    acpi, orom = paths_arg(acpi, "acpi"), paths_arg(orom, "orom")
    overrides = texts_arg(overrides, "overrides")
    if policy is not None:
        policy = path_arg(policy, "policy")
    if secret_file is not None:
        secret_file = path_arg(secret_file, "secret_file")
    for name, value in (("oem_ids", oem_ids), ("guest", guest)):
        if value is not None:
            text_arg(value, name)
    bool_arg(strict, "strict")
    if fmt not in FORMATS:
        raise UsageError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if xen is not None:
        xen = resolve(xen)          # UsageError listing the versions known
    if not smbios and not acpi and not orom:
        raise UsageError("nothing to build: give an SMBIOS source (--smbios), ACPI sources "
                         "(--acpi) and/or option ROMs (--orom)")
    if oem_ids and fmt == "xen":
        raise UsageError("--oem-ids needs --format modules: stock hvmloader has no way to "
                         "take OEM IDs")
    pol = policy_mod.read(policy, xen=xen)
    if guest:
        pol.guest = guest
    if secret_file:
        pol.secret_file = secret_file
    policy_mod.add_cli_overrides(pol, overrides)
    inputs = input_paths(smbios, acpi, orom, policy, pol.secret_file)
    sel = select(pol, smbios, acpi, orom, fmt=fmt, strict=strict)
    if not _passes_anything(sel):
        why = _why_nothing(pol, sel, smbios, acpi, orom, fmt, strict)
        if dry_run:
            return BuildResult(fmt, [], sel, inputs=inputs, nothing=why)
        raise PolicyError(why)
    _check_limits(sel, pol, fmt)
    ids = parse_oem_ids(oem_ids, sel.acpi) if oem_ids else None
    if fmt == "xen":
        return BuildResult(fmt, _stock_blocks(sel), sel, inputs=inputs)
    return BuildResult(fmt, [_image_block(sel, pol, ids)], sel, ids, inputs=inputs)


def _passes_anything(sel):
    return bool(sel.smbios is not None and sel.smbios.structures or sel.acpi or sel.oroms)


def _why_nothing(pol, sel, smbios, acpi, orom, fmt, strict):
    """The error's line when ``sel`` passes nothing: each source and why it was dropped,
    and what the most permissive policy would have passed."""
    named = ", ".join(s for s in ([smbios] if smbios else []) + acpi + orom)
    kept = None
    if not pol.passthrough_all:
        try:
            kept = select(policy_mod.read("passthrough-all", xen=pol.xen), smbios, acpi,
                          orom, fmt=fmt, strict=strict).report
        except XcmodError:
            kept = None
    return nothing_to_build(named, sel.report, kept)


def _stock_blocks(sel):
    """The stock hvmloader blocks of ``sel``, checked as hvmloader's walk reads them."""
    blocks = []
    if sel.smbios is not None and sel.smbios.structures:
        blocks.append(Block(SMBIOS, stock.encode_smbios_block(sel.smbios.structures)))
    if sel.acpi:
        blocks.append(Block(ACPI, stock.encode_acpi_block(sel.acpi)))
    check(blocks)            # never write what hvmloader's walk would not read back
    return blocks


def _image_block(sel, pol, ids):
    """The image of ``sel`` (and the OEM IDs ``ids``), read back by the Python reader,
    the C reader and hvmloader's rules before it is returned."""
    modules = []
    if sel.smbios is not None and sel.smbios.structures:
        size = len(sel.smbios.table_bytes)
        if size > SMBIOS_PAYLOAD_MAX:
            raise PolicyError(f"SMBIOS: the {len(sel.smbios.structures)} structures passing "
                              f"policy {pol.name} take {size} bytes, but xcmod's hvmloader "
                              f"takes an SMBIOS module of at most {SMBIOS_PAYLOAD_MAX} "
                              f"(48 KiB) and ignores a larger image whole "
                              f"(docs/hvmloader.md): pass fewer structures")
        modules.append(sel.smbios.encode())
    if sel.acpi:
        modules.append(encode_acpi_module(sel.acpi))
    if ids:
        modules.append(encode_acpi_ids_module(*ids))
    modules += [rom.encode() for rom in sel.oroms]
    image = build_image(modules)
    verify_image(image, source="<built image>")   # never write what we cannot read back
    block = Block(IMAGE, image, "<built image>")
    check([block])                  # nor what the C reader or hvmloader's rules refuse
    block.source = None
    return block


def nothing_to_build(named, report, permissive=None):
    """The one line saying that nothing in ``named`` passed: what was dropped and why
    (from ``report``), and advice true for the policy in use: what policy
    passthrough-all would pass (its report, ``permissive``), or that no policy
    passes any of it."""
    dropped = [e for e in report.entries if e.action in ("dropped", "skipped")]
    text = (f"nothing to build: nothing in {named} passes policy {report.policy}"
            + (f": {summarize_dropped(dropped)}" if dropped else ""))
    passed = [e.structure[0] if e.structure else
              e.item.split(" ")[0] if e.area == "acpi" else e.item
              for e in (permissive.entries if permissive else ()) if e.action == "passed"]
    if passed:
        what = ", ".join(dict.fromkeys(passed))
        return (f"{text}; --policy passthrough-all would pass {len(passed)} of them "
                f"({what}); `xcmod build --dry-run` prints the whole report")
    return (f"{text}; no policy passes any of them (passthrough-all too refuses the tables "
            f"hvmloader builds itself, and the SMBIOS types it does not take)")


def _check_limits(sel, pol, fmt):
    """PolicyError if what passes ``pol`` breaks a limit of the hvmloader that will read
    it (:func:`xcmod.image.rules.check_hvmloader_limits`), under every policy,
    passthrough-all included: ACPI tables within the policy's budget, and for stock
    blocks SMBIOS within stock hvmloader's 16-bit table length (the module format's
    48 KiB rule is stricter and is applied below)."""
    structures = (sel.smbios.structures if sel.smbios is not None and fmt == "xen" else ())
    try:
        check_hvmloader_limits([(s.type, s.size) for s in structures])
        check_hvmloader_limits(acpi_count=len(sel.acpi), acpi_budget=pol.acpi_budget)
    except FormatError as e:
        budget = ("" if e.message.startswith("SMBIOS") else
                  f" with acpi.hvmloader_tables = {pol.hvmloader_tables}")
        raise PolicyError(f"{e.message.replace(' (docs/safety.md)', '')}; under policy "
                          f"{pol.name}{budget} too (docs/safety.md)") from None


def input_paths(smbios=None, acpi=(), orom=(), policy=None, secret_file=None):
    """[(option, path)] a build reads, for :func:`xcmod.fileio.plan_outputs`: ``host``
    as the sysfs directories it reads, ``mem:PATH`` as PATH."""
    out = []
    if smbios:
        out.append(("--smbios", SYSFS_DMI if smbios == "host" else smbios.removeprefix("mem:")))
    out += [("--acpi", SYSFS_ACPI if a == "host" else a) for a in acpi]
    out += [("--orom", o) for o in orom]
    out += [(opt, p) for opt, p in (("--policy", policy), ("--secret-file", secret_file)) if p]
    return out


def output_paths(fmt, output):
    """[(option, path, is_dir[, names_dir])] a build writes for ``-o output``: the image,
    or the blocks dir's two files (named, so other files may sit beside them), for
    :func:`xcmod.fileio.plan_outputs`."""
    output = path_arg(output, "-o")
    if fmt == "xen":
        if output == "-":
            raise UsageError("--format xen -o -: standard output is one stream, not the "
                             "directory of smbios.bin and acpi.bin")
        if os.path.exists(output) and not os.path.isdir(output):
            raise NotADirectoryError(errno.ENOTDIR, f"exists and is not a directory: "
                                     f"--format xen -o names the directory it writes "
                                     f"{' and '.join(STOCK_FILES.values())} into", output)
        # (the directory -o names is created if missing, when its parent exists)
        return [("-o", os.path.join(output, name), False, True)
                for name in STOCK_FILES.values()]
    return [("-o", output, False)]


def _json_file(doc):
    return (json.dumps(doc, indent=2) + "\n").encode()


def write_build(result, output, *, manifest=None, report=None):
    """Write ``result`` to ``output`` (the image file, or the blocks directory), with
    the ``manifest`` and ``report`` JSON if named: all files or none.  Returns the
    [(path, bytes)] written.  Refused before anything is written (UsageError): outputs
    on one another or on what the build read, and a blocks directory that would keep
    a block this build does not write."""
    if not isinstance(result, BuildResult):
        raise UsageError(f"write_build needs the BuildResult xcmod.build() returns, not "
                         f"{type(result).__name__}")
    output = path_arg(output, "output")
    manifest, report = (p if p is None else path_arg(p, o)
                        for o, p in (("--manifest", manifest), ("--report", report)))
    extra = [(o, p, False) for o, p in (("--manifest", manifest), ("--report", report))
             if p is not None]
    plan_outputs(output_paths(result.fmt, output) + extra, result.inputs)
    files = []
    if result.fmt == "xen":
        for b in result.blocks:
            b.source = os.path.join(output, STOCK_FILES[b.kind])
            files.append((b.source, b.data))
        for kind, name in STOCK_FILES.items():
            path = os.path.join(output, name)
            if os.path.exists(path) and kind not in {b.kind for b in result.blocks}:
                raise UsageError(f"{path} is left from an earlier build and this build has no "
                                 f"{kind.upper()} block: remove it or use a fresh directory")
    else:
        result.blocks[0].source = output
        files.append((output, result.blocks[0].data))
    image_name = None if result.fmt == "xen" else os.path.basename(output)
    if manifest:
        doc = result.manifest(image_name)
        files.append((manifest, _json_file(doc)))
    if report:
        files.append((report, _json_file(result.report.as_dict())))
    write_all(files)
    return files
