/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/png.c: gloam_png_encode(): 8-bit RGB to PNG with libpng's
 * simplified write API (png_image_write_to_memory: no setjmp, libpng's
 * default compression), sized by a first call without a buffer.
 */
#include <png.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "gloam/image.h"

#define PNG_MAX_SIDE 16384

int gloam_png_encode(const uint8_t *rgb, int width, int height, uint8_t **png, size_t *len,
                     char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  err_clear(err);
  if (png) *png = NULL;
  if (len) *len = 0;
  if (!rgb || !png || !len) return err_set(err, GLOAM_EINVAL, "NULL argument");
  if (width < 1 || height < 1 || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE)
    return err_set(err, GLOAM_EINVAL, "image size %d x %d outside 1 .. %d", width, height,
                   PNG_MAX_SIDE);
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)width;
  img.height = (png_uint_32)height;
  img.format = PNG_FORMAT_RGB;
  png_alloc_size_t n = 0;
  if (!png_image_write_to_memory(&img, NULL, &n, 0, rgb, 0, NULL) || n == 0)
    return err_set(err, GLOAM_EINTERNAL, "libpng: %s", img.message);
  uint8_t *buf = mem_alloc(n);
  if (!buf) return err_set(err, GLOAM_ENOMEM, "out of memory");
  if (!png_image_write_to_memory(&img, buf, &n, 0, rgb, 0, NULL)) {
    mem_free(buf);
    return err_set(err, GLOAM_EINTERNAL, "libpng: %s", img.message);
  }
  *png = buf;
  *len = n;
  return 0;
}

void gloam_png_free(uint8_t *png) {
  mem_free(png);
}
