/* SPDX-License-Identifier: MIT */
/* cffi cdefs: the part of <xenctrl.h> (and <xenctrl_compat.h>) xcmod uses,
 * mirroring the real declarations, which Xen 4.17 to master declare alike.
 * `...` lets the compiler supply layouts and values from the real header. */
typedef struct xc_interface_core xc_interface;
typedef struct xentoollog_logger xentoollog_logger;

xc_interface *xc_interface_open(xentoollog_logger *logger,
                                xentoollog_logger *dombuild_logger,
                                unsigned open_flags);
int xc_interface_close(xc_interface *xch);

typedef struct xc_error {
    char message[...];
    ...;
} xc_error;
const xc_error *xc_get_last_error(xc_interface *handle);
void xc_clear_last_error(xc_interface *xch);
