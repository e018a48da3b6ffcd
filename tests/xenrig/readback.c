/*
 * readback - an independent check of guest RAM, for the rig's dom0:
 * map [GPA, GPA+LEN) of DOMID read-only with xc_map_foreign_range and write
 * the bytes to stdout, one page at a time; a page the guest does not have
 * (not populated) reads as zeros and is counted on stderr.  Deliberately
 * shares no code with xcmod.
 *
 *   readback DOMID GPA LEN > out.bin     (exit 1 if no page could be mapped)
 */
#define XC_WANT_COMPAT_MAP_FOREIGN_API
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <xenctrl.h>

int main(int argc, char **argv)
{
    static const unsigned char zero[4096];
    xc_interface *xch;
    unsigned long domid, gpa, len, pfn, off, n, done = 0, missing = 0, mapped = 0;
    unsigned char *p;

    if ( argc != 4 )
    {
        fprintf(stderr, "usage: readback DOMID GPA LEN\n");
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
