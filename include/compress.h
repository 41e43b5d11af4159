/*
 * compress.h -- compression codecs for the data sinks, through libraries
 * built from Debian's sources (scripts/deps.sh): zlib for gzip, lz4 for the
 * LZ4 frame format. The only module that includes zlib.h and lz4frame.h.
 */
#ifndef KE_COMPRESS_H
#define KE_COMPRESS_H

#include <stddef.h>

#include "buf.h"

/* Append one gzip member (RFC 1952, zlib's default level) of p[0..n) to out. 0 or -1. */
int compress_gzip(struct buf *out, const void *p, size_t n);

/*
 * Append one LZ4 frame of p[0..n) to out: independent 64 KiB blocks, no
 * checksums but the header's (what Kafka's clients write and read). 0 or -1.
 */
int compress_lz4_frame(struct buf *out, const void *p, size_t n);

#endif
