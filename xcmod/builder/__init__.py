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
import os

FORMATS = ("modules", "xen")


class BuildResult:
    """What :func:`build` made: ``blocks`` (one IMAGE block, or the stock SMBIOS/ACPI
    blocks of ``fmt`` "xen"), the :class:`~.select.Selection` and its report."""

    def __init__(self, fmt, blocks, selection, oem_ids=None):
        self.fmt, self.blocks, self.selection, self.oem_ids = fmt, blocks, selection, oem_ids

    @property
    def report(self):
        return self.selection.report

    @property
    def warnings(self):
        return [f"{w.item}: {w.reason}" for w in self.report.warnings]

    def manifest(self, image_name=None):
        """The launch measurement document (see :mod:`xcmod.image.manifest`)."""
        from ..image.manifest import block_items, measure
        items = [i for b in self.blocks for i in block_items(b.kind, b.name, b.data)]
        whole = None if self.fmt == "xen" else (image_name or "image", self.blocks[0].data)
        return measure(items, whole)

    def describe(self):
        """The image's (or blocks') description: the same shape ``inspect --json`` gives."""
        if self.fmt == "xen":
            from ..image.stock import describe_block
            return {"format": "xen", "blocks": [describe_block(b.kind, b.data, b.source)
                                                for b in self.blocks]}
        from ..image.read import describe
        return describe(self.blocks[0].data)

    def as_dict(self):
        return {**self.describe(), "report": self.report.as_dict()}


def build(smbios=None, acpi=(), orom=(), *, policy=None, xen=None, fmt="modules",
          oem_ids=None, guest=None, secret_file=None, overrides=(), strict=False):
    """Select what passes ``policy`` from the sources and encode it; write nothing.

    ``smbios``/``acpi``/``orom``: source spellings as ``--smbios``/``--acpi``/``--orom``
    take them (``host``, a dump, a directory, a file); ``policy``: a built-in
    name or a TOML file; ``overrides``: ``FIELD=VALUE`` strings; ``fmt``:
    "modules" (an xcmod image) or "xen" (stock hvmloader blocks).  Raises
    UsageError, FormatError or PolicyError naming the source; returns a
    :class:`BuildResult` whose blocks were read back and checked.
    """
    from ..errors import PolicyError, UsageError
    from ..image.blocks import ACPI, IMAGE, SMBIOS, Block, check
    from . import policy as policy_mod
    from .select import select

    acpi, orom = list(acpi), list(orom)
    if fmt not in FORMATS:
        raise UsageError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
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
    sel = select(pol, smbios, acpi, orom, fmt=fmt, strict=strict)
    has_smbios = sel.smbios is not None and bool(sel.smbios.structures)
    if not has_smbios and not sel.acpi and not sel.oroms:
        skipped = sum(1 for e in sel.report.entries if e.action in ("dropped", "skipped"))
        named = ", ".join(s for s in ([smbios] if smbios else []) + acpi + orom)
        raise PolicyError(f"nothing to build: nothing in {named} passes policy {pol.name} "
                         f"({skipped} dropped or skipped; --policy passthrough-all keeps "
                         f"everything)")
    ids = None
    if oem_ids:
        from ..firmware.acpi import oem_ids as parse_oem_ids
        ids = parse_oem_ids(oem_ids, sel.acpi)

    if fmt == "xen":
        from ..image import stock
        blocks = []
        if has_smbios:
            blocks.append(Block(SMBIOS, stock.encode_smbios_block(sel.smbios.structures)))
        if sel.acpi:
            blocks.append(Block(ACPI, stock.encode_acpi_block(sel.acpi)))
        check(blocks)            # never write what hvmloader's walk would not read back
        return BuildResult(fmt, blocks, sel)

    from ..firmware.acpi import encode_acpi_ids_module, encode_acpi_module
    from ..image.spec import build_image, verify_image
    modules = []
    if has_smbios:
        modules.append(sel.smbios.encode())
    if sel.acpi:
        modules.append(encode_acpi_module(sel.acpi))
    if ids:
        modules.append(encode_acpi_ids_module(*ids))
    modules += [rom.encode() for rom in sel.oroms]
    image = build_image(modules)
    verify_image(image, source="<built image>")   # never write what we cannot read back
    return BuildResult(fmt, [Block(IMAGE, image)], sel, ids)


def output_paths(fmt, output):
    """[(option, path)] a build writes for ``-o output``: the image, or the blocks dir's files."""
    if fmt == "xen":
        from ..image.blocks import STOCK_FILES
        return [("-o", os.path.join(output, name)) for name in STOCK_FILES.values()]
    return [("-o", output)]


def write_build(result, output, *, manifest=None, report=None):
    """Write ``result`` to ``output`` (the image file, or the blocks directory), with
    the ``manifest`` and ``report`` JSON if named: all files or none.  Returns the
    [(path, bytes)] written.  A blocks directory must not keep a block this build
    does not write (UsageError before anything is written)."""
    import json

    from ..errors import UsageError
    from ..fileio import refuse_collisions, write_all
    from ..image.blocks import STOCK_FILES
    refuse_collisions(output_paths(result.fmt, output) +
                      [(o, p) for o, p in (("--manifest", manifest), ("--report", report)) if p])
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
        files.append((manifest, (json.dumps(doc, indent=2) + "\n").encode()))
    if report:
        files.append((report, (json.dumps(result.report.as_dict(), indent=2) + "\n").encode()))
    write_all(files)
    return files
