/* SPDX-License-Identifier: MIT */
/* cffi cdefs for csrc/xcmod_reader.h (the reference reader), the part
 * xcmod.image.creader uses: whole-image validation and the messages. */
struct xcmod_image {
    const uint8_t *base;
    uint32_t size;
    uint32_t image_length;
    uint32_t module_count;
    uint32_t error_offset;
};

int xcmod_image_check(struct xcmod_image *img, const void *base, uint32_t size);
const char *xcmod_strerror(int status);
