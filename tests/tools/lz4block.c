/*
 * lz4block -- compress stdin into one raw LZ4 block on stdout, with the
 * same liblz4 the binary links (LZ4_compress_default), so the Python LZ4
 * block decoder of tests/emu/sls.py is tested against the C build's output.
 * Test tool; at most 64 MiB of input.
 */
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	size_t cap = 64 << 20, n = 0, r;
	char *in = malloc(cap);
	if (!in)
		return 1;
	while (n < cap && (r = fread(in + n, 1, cap - n, stdin)) > 0)
		n += r;
	int bound = LZ4_compressBound((int)n);
	char *out = malloc((size_t)bound + 1);
	if (!out)
		return 1;
	int k = LZ4_compress_default(in, out, (int)n, bound);
	if (k <= 0 || fwrite(out, 1, (size_t)k, stdout) != (size_t)k)
		return 1;
	free(in);
	free(out);
	return 0;
}
