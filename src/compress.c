/* compress.c -- gzip (zlib) and LZ4 frames (lz4frame) into bounded buffers. */
#include "compress.h"

#include <lz4frame.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

/* Room for a codec's worst case; kept between calls (a sink compresses batch after batch). */
static unsigned char *scratch;
static size_t scratch_cap;

static unsigned char *room(size_t n)
{
	if (n > scratch_cap) {
		free(scratch);
		scratch = xmalloc(n);
		scratch_cap = n;
	}
	return scratch;
}

/* Drop a large scratch area after use, so one huge batch does not pin its memory. */
static void shrink(void)
{
	if (scratch_cap > 1 << 20) {
		free(scratch);
		scratch = NULL;
		scratch_cap = 0;
	}
}

int compress_gzip(struct buf *out, const void *p, size_t n)
{
	static z_stream z;
	static bool ready;
	if (n > (size_t)UINT32_MAX / 2)
		return -1;
	if (!ready) {
		memset(&z, 0, sizeof z);
		/* windowBits 15 + 16: a gzip wrapper instead of zlib's */
		if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
		    Z_OK)
			return -1;
		ready = true;
	} else if (deflateReset(&z) != Z_OK) {
		return -1;
	}
	size_t cap = deflateBound(&z, (uLong)n) + 32;
	unsigned char *dst = room(cap);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = dst;
	z.avail_out = (uInt)cap;
	int r = deflate(&z, Z_FINISH);
	int rc = r == Z_STREAM_END ? buf_append(out, dst, cap - z.avail_out) : -1;
	shrink();
	return rc;
}

int compress_lz4_frame(struct buf *out, const void *p, size_t n)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentSize = 0;
	size_t cap = LZ4F_compressFrameBound(n, &prefs);
	if (LZ4F_isError(cap))
		return -1;
	unsigned char *dst = room(cap);
	size_t len = LZ4F_compressFrame(dst, cap, p, n, &prefs);
	int rc = LZ4F_isError(len) ? -1 : buf_append(out, dst, len);
	shrink();
	return rc;
}
