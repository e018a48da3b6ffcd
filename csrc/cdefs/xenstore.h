/* SPDX-License-Identifier: MIT */
/* cffi cdefs: the part of <xenstore.h> / <xenstore_lib.h> xcmod uses,
 * mirroring the real declarations (unchanged from Xen 4.17 to master). */
typedef uint32_t xs_transaction_t;
#define XBT_NULL ...

struct xs_handle;

/* xenstore_lib.h */
struct xs_permissions {
    unsigned int id;
    unsigned int perms;     /* Bitmask of permissions. */
};
#define XS_PERM_NONE ...
#define XS_PERM_READ ...
#define XS_PERM_WRITE ...

struct xs_handle *xs_open(unsigned long flags);
void xs_close(struct xs_handle *xsh);
xs_transaction_t xs_transaction_start(struct xs_handle *h);
bool xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort);
bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
              const void *data, unsigned int len);
void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
              unsigned int *len);
bool xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path);
bool xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path);
char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path,
                    unsigned int *num);
bool xs_set_permissions(struct xs_handle *h, xs_transaction_t t,
                        const char *path, struct xs_permissions *perms,
                        unsigned int num_perms);

void free(void *ptr);
