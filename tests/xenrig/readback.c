/* SPDX-License-Identifier: MIT */
/*
 * readback - an independent check of guest RAM, for the rig's dom0:
 * map [GPA, GPA+LEN) of DOMID read-only with xc_map_foreign_range and write
 * the bytes to stdout, one page at a time; a page the guest does not have
 * (not populated) reads as zeros and is counted on stderr.  Deliberately
 * shares no code with xcmod.
 *
 *   readback DOMID GPA LEN > out.bin     (exit 1 if no page could be mapped)
 *   readback -w DOMID GPA < bytes        (write stdin's bytes there: the rig
 *                                         corrupts a loaded image with it)
 */
#define XC_WANT_COMPAT_MAP_FOREIGN_API
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <xenctrl.h>

static int poke(xc_interface *xch, unsigned long domid, unsigned long gpa)
{
    unsigned char buf[4096], *p;
    size_t n, i;
    unsigned long at = gpa;

    while ( (n = fread(buf, 1, sizeof(buf), stdin)) > 0 )
        for ( i = 0; i < n; i++, at++ )
        {
            p = xc_map_foreign_range(xch, domid, 4096, PROT_READ | PROT_WRITE, at >> 12);
            if ( !p )
            {
                perror("xc_map_foreign_range");
                return 1;
            }
            p[at & 0xfff] = buf[i];
            munmap(p, 4096);
        }
    return 0;
}

int main(int argc, char **argv)
{
    static const unsigned char zero[4096];
    xc_interface *xch;
    unsigned long domid, gpa, len, pfn, off, n, done = 0, missing = 0, mapped = 0;
    unsigned char *p;

    if ( argc == 4 && argv[1][0] == '-' && argv[1][1] == 'w' )
    {
        int rc;

        xch = xc_interface_open(NULL, NULL, 0);
        if ( !xch )
        {
            perror("xc_interface_open");
            return 1;
        }
        rc = poke(xch, strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0));
        xc_interface_close(xch);
        return rc;
    }
    if ( argc != 4 )
    {
        fprintf(stderr, "usage: readback DOMID GPA LEN | readback -w DOMID GPA < BYTES\n");
        return 2;
    }
    domid = strtoul(argv[1], NULL, 0);
    gpa = strtoul(argv[2], NULL, 0);
    len = strtoul(argv[3], NULL, 0);
    xch = xc_interface_open(NULL, NULL, 0);
    if ( !xch )
    {
        perror("xc_interface_open");
        return 1;
    }
    while ( done < len )
    {
        pfn = (gpa + done) >> 12;
        off = (gpa + done) & 0xfff;
        n = 4096 - off;
        if ( n > len - done )
            n = len - done;
        p = xc_map_foreign_range(xch, domid, 4096, PROT_READ, pfn);
        if ( p )
        {
            fwrite(p + off, 1, n, stdout);
            munmap(p, 4096);
            mapped++;
        }
        else
        {
            fwrite(zero, 1, n, stdout);
            missing++;
        }
        done += n;
    }
    if ( missing )
        fprintf(stderr, "readback: %lu page(s) not mapped, read as zeros\n", missing);
    xc_interface_close(xch);
    return mapped ? 0 : 1;
}
