/* Fuzz the Go-to-ERE regex translation: any pattern either is rejected with
 * a message or compiles, and a compiled one can search a few inputs. */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		setlocale(LC_CTYPE, "C.UTF-8");
		init = 1;
	}
	if (size > 512)
		return 0; /* ERE engines are not linear: keep single runs short */
	char *p = xstrndup((const char *)data, size);
	struct goregex *re;
	char err[200];
	err[0] = '\0';
	if (goregex_compile(p, &re, err, sizeof err) == 0) {
		goregex_search(re, "BackOff");
		goregex_search(re, "");
		goregex_search(re, "a\nb \xe4\xb8\xad [x]{1,2}");
		goregex_free(re);
	} else if (!err[0]) {
		abort(); /* a rejection always says why */
	}
	free(p);
	return 0;
}
