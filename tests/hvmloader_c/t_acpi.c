/* SPDX-License-Identifier: MIT */
/*
 * t_acpi.c - libacpi's pass-through of the tables hvmloader configures:
 * build.c itself (its static construct_passthrough_tables()), given the
 * acpi_config hvmloader_acpi_build_tables() would, xcmod's hook included.
 */
#include "../../libacpi/build.c"
#include "fwt.h"

static void *t_alloc(struct acpi_ctxt *ctxt, uint32_t size, uint32_t align)
{
    return mem_alloc(size, align);
}

static unsigned long t_v2p(struct acpi_ctxt *ctxt, void *v)
{
    return (unsigned long)v;
}

static void t_ids(const char *what, const struct acpi_header *h)
{
    printf("hvmt: %s %.4s oem_id=\"%.6s\" oem_table_id=\"%.8s\"\n", what,
           (const char *)&h->signature, h->oem_id, h->oem_table_id);
}

/* The tables passed through, beside @nr_own tables of hvmloader's own. */
void hvmt_acpi(int nr_own)
{
    struct acpi_config config;
    struct acpi_ctxt ctxt;
    unsigned long table_ptrs[ACPI_MAX_SECONDARY_TABLES + 1];
    struct acpi_header own;
    const char *s;
    int i, n;

    memset(&config, 0, sizeof(config));
    memset(table_ptrs, 0, sizeof(table_ptrs));
    ctxt.mem_ops.alloc = t_alloc;
    ctxt.mem_ops.v2p = t_v2p;

    /* As hvmloader_acpi_build_tables() reads them. */
    s = xenstore_read(HVM_XS_ACPI_PT_ADDRESS, NULL);
    if ( s )
    {
        config.pt.addr = strtoll(s, NULL, 0);
        s = xenstore_read(HVM_XS_ACPI_PT_LENGTH, NULL);
        if ( s )
            config.pt.length = strtoll(s, NULL, 0);
    }
    fwt_acpi_config(&config);

    n = construct_passthrough_tables(&ctxt, table_ptrs, nr_own, &config);
    printf("hvmt: passed %d\n", n);
    for ( i = nr_own; i < nr_own + n; i++ )
        t_ids("table", (const struct acpi_header *)table_ptrs[i]);
    /* The RSDT's header as acpi_build_tables() makes it from the template. */
    own = Rsdt.header;
#ifdef HVMT_OEM_IDS_IN_CONFIG           /* acpi_config's (the series' own) */
    set_oem_ids(&config, &own);
#endif
    t_ids("own", &own);
}
