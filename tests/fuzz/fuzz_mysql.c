/*
 * What a MySQL/MariaDB server (or anything listening where one should be)
 * sends the mysql sink: a stream of packets, each given to every decoder of
 * server input -- the greeting, the answers during authentication (OK, ERR,
 * AuthSwitchRequest, AuthMoreData), OK and ERR packets. Nothing may read
 * outside the bytes, crash or leak; every decoded string is terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/mysql.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	size_t len;
	uint8_t seq;
	long n;
	char why[256], text[600];
	while ((n = my_packet(data, size, &p, &len, &seq)) > 0) {
		struct my_handshake h;
		struct my_err e;
		struct my_ok ok;
		struct my_auth_reply r;
		int hr = my_handshake_decode(p, len, &h, &e, why, sizeof why);
		if (hr == 0 && (strlen(h.server_version) >= sizeof h.server_version || h.scramble_len > 20 ||
		                strlen(h.plugin) >= sizeof h.plugin))
			abort();
		if (hr == 1)
			my_err_text(&e, text, sizeof text);
		if (my_auth_reply_decode(p, len, &r, why, sizeof why) == 0) {
			if (r.data && (r.data < p || r.data + r.data_len > p + len))
				abort();
			my_plugin_find(r.plugin);
		}
		if (my_err_decode(p, len, &e) == 0) {
			my_err_text(&e, text, sizeof text);
			my_err_class(e.code);
			if (strlen(e.msg) >= sizeof e.msg || strlen(e.state) > 5)
				abort();
		}
		my_ok_decode(p, len, &ok);
		data += n;
		size -= (size_t)n;
	}
	return 0;
}
