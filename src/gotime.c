/* gotime.c -- Go reference-layout time formatting over localtime_r/gmtime_r. */
#include "gotime.h"

#include <string.h>
#include <time.h>

#include "util.h"

static const char *const days[] = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" };
static const char *const months[] = { "January", "February", "March",     "April",   "May",      "June",
				      "July",    "August",   "September", "October", "November", "December" };

enum tok {
	T_NONE, T_LONGMONTH, T_MONTH, T_NUMMONTH, T_ZEROMONTH, T_LONGWEEKDAY, T_WEEKDAY, T_DAY, T_UNDERDAY,
	T_ZERODAY, T_UNDERYEARDAY, T_ZEROYEARDAY, T_HOUR, T_HOUR12, T_ZEROHOUR12, T_MINUTE, T_ZEROMINUTE,
	T_SECOND, T_ZEROSECOND, T_LONGYEAR, T_YEAR, T_PM, T_pm, T_TZ, T_ISO8601TZ, T_ISO8601SECONDSTZ,
	T_ISO8601SHORTTZ, T_ISO8601COLONTZ, T_ISO8601COLONSECONDSTZ, T_NUMTZ, T_NUMSECONDSTZ, T_NUMSHORTTZ,
	T_NUMCOLONTZ, T_NUMCOLONSECONDSTZ, T_FRAC0, T_FRAC9,
};

static bool starts(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* Go's nextStdChunk: the next layout element at *s, its length in *len. */
static enum tok next_tok(const char *s, size_t *len, int *frac_digits)
{
	/* zone offsets, longest first (Go's order) */
	static const struct {
		const char *text;
		enum tok t;
	} zones[] = {
		{ "-070000", T_NUMSECONDSTZ },     { "-07:00:00", T_NUMCOLONSECONDSTZ }, { "-0700", T_NUMTZ },
		{ "-07:00", T_NUMCOLONTZ },        { "-07", T_NUMSHORTTZ },
		{ "Z070000", T_ISO8601SECONDSTZ }, { "Z07:00:00", T_ISO8601COLONSECONDSTZ },
		{ "Z0700", T_ISO8601TZ },          { "Z07:00", T_ISO8601COLONTZ },       { "Z07", T_ISO8601SHORTTZ },
	};
	/* the checks follow Go's nextStdChunk, per first character */
	switch (s[0]) {
	case 'J':
		if (starts(s, "January")) {
			*len = 7;
			return T_LONGMONTH;
		}
		if (starts(s, "Jan") && !(s[3] >= 'a' && s[3] <= 'z')) {
			*len = 3;
			return T_MONTH;
		}
		return T_NONE;
	case 'M':
		if (starts(s, "Mon")) {
			if (starts(s, "Monday")) {
				*len = 6;
				return T_LONGWEEKDAY;
			}
			if (!(s[3] >= 'a' && s[3] <= 'z')) {
				*len = 3;
				return T_WEEKDAY;
			}
		}
		if (starts(s, "MST")) {
			*len = 3;
			return T_TZ;
		}
		return T_NONE;
	case '0':
		if (s[1] >= '1' && s[1] <= '6') {
			*len = 2;
			return (enum tok[]){ T_ZEROMONTH, T_ZERODAY, T_ZEROHOUR12, T_ZEROMINUTE, T_ZEROSECOND,
					     T_YEAR }[s[1] - '1'];
		}
		if (s[1] == '0' && s[2] == '2') {
			*len = 3;
			return T_ZEROYEARDAY;
		}
		return T_NONE;
	case '1':
		if (s[1] == '5') {
			*len = 2;
			return T_HOUR;
		}
		*len = 1;
		return T_NUMMONTH;
	case '2':
		if (starts(s, "2006")) {
			*len = 4;
			return T_LONGYEAR;
		}
		*len = 1;
		return T_DAY;
	case '_':
		if (s[1] == '2') {
			if (starts(s + 1, "2006")) {
				*len = 1; /* "_2006" is a literal "_", then the year */
				return T_NONE;
			}
			*len = 2;
			return T_UNDERDAY;
		}
		if (s[1] == '_' && s[2] == '2') {
			*len = 3;
			return T_UNDERYEARDAY;
		}
		return T_NONE;
	case '3':
	case '4':
	case '5':
		*len = 1;
		return s[0] == '3' ? T_HOUR12 : s[0] == '4' ? T_MINUTE : T_SECOND;
	case 'P':
		if (s[1] == 'M') {
			*len = 2;
			return T_PM;
		}
		return T_NONE;
	case 'p':
		if (s[1] == 'm') {
			*len = 2;
			return T_pm;
		}
		return T_NONE;
	case '-':
	case 'Z':
		for (size_t i = 0; i < ARRAY_LEN(zones); i++) {
			if (starts(s, zones[i].text)) {
				*len = strlen(zones[i].text);
				return zones[i].t;
			}
		}
		return T_NONE;
	case '.':
	case ',':
		/* ,000 or .000 or ,999 or .999: fractional seconds, if not followed by a digit */
		if (s[1] == '0' || s[1] == '9') {
			char ch = s[1];
			size_t j = 1;
			while (s[j] == ch)
				j++;
			if (!(s[j] >= '0' && s[j] <= '9')) {
				*len = j;
				*frac_digits = (int)(j - 1);
				return ch == '0' ? T_FRAC0 : T_FRAC9;
			}
		}
		return T_NONE;
	}
	return T_NONE;
}

static void pad(struct buf *b, long v, int width, char fill)
{
	char tmp[24];
	int n = 0;
	bool neg = v < 0;
	unsigned long u = neg ? (unsigned long)(-v) : (unsigned long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (neg)
		buf_putc(b, '-');
	for (int i = n; i < width; i++)
		buf_putc(b, fill);
	while (n)
		buf_putc(b, tmp[--n]);
}

struct parts {
	struct tm tm;
	long off;          /* seconds east of UTC */
	char zone[16];
	int32_t nsec;
};

static void split(struct ktime t, bool utc, struct parts *p)
{
	time_t sec = (time_t)t.sec;
	memset(p, 0, sizeof *p);
	p->nsec = t.nsec;
	if (ktime_is_zero(t)) {
		/* Go's zero Time: 0001-01-01 00:00:00 UTC */
		p->tm.tm_year = 1 - 1900;
		p->tm.tm_mon = 0;
		p->tm.tm_mday = 1;
		p->tm.tm_wday = 1; /* a Monday */
		p->tm.tm_yday = 0;
		memcpy(p->zone, "UTC", 4);
		return;
	}
	if (utc) {
		gmtime_r(&sec, &p->tm);
		memcpy(p->zone, "UTC", 4);
		return;
	}
	localtime_r(&sec, &p->tm);
	p->off = p->tm.tm_gmtoff;
	const char *z = p->tm.tm_zone;
	if (!z || !*z) {
		/* Go names a zone without abbreviation by its offset, e.g. "+0530" */
		long o = p->off < 0 ? -p->off : p->off;
		struct buf zb = BUF_INIT(15);
		buf_putc(&zb, p->off < 0 ? '-' : '+');
		pad(&zb, o / 3600, 2, '0');
		if (o % 3600)
			pad(&zb, o % 3600 / 60, 2, '0');
		memcpy(p->zone, buf_str(&zb), zb.len + 1);
		buf_free(&zb);
	} else {
		size_t n = strlen(z);
		if (n >= sizeof p->zone)
			n = sizeof p->zone - 1;
		memcpy(p->zone, z, n);
		p->zone[n] = '\0';
	}
}

static void tzoff(struct buf *b, long off, bool colon, bool seconds, bool shorthand, bool iso)
{
	if (iso && off == 0) {
		buf_putc(b, 'Z');
		return;
	}
	long z = off < 0 ? -off : off;
	buf_putc(b, off < 0 ? '-' : '+');
	pad(b, z / 3600, 2, '0');
	if (shorthand)
		return;
	if (colon)
		buf_putc(b, ':');
	pad(b, z / 60 % 60, 2, '0');
	if (seconds) {
		if (colon)
			buf_putc(b, ':');
		pad(b, z % 60, 2, '0');
	}
}

int gotime_format(struct buf *b, struct ktime t, bool utc, const char *layout)
{
	struct parts p;
	size_t start = b->len;
	split(t, utc, &p);
	const struct tm *tm = &p.tm;
	long year = tm->tm_year + 1900L;
	int hour12 = tm->tm_hour % 12 == 0 ? 12 : tm->tm_hour % 12;

	for (const char *s = layout; *s;) {
		size_t len = 0;
		int fd = 0;
		enum tok k = next_tok(s, &len, &fd);
		if (k == T_NONE) {
			size_t l = len ? len : 1;
			buf_append(b, s, l);
			s += l;
			continue;
		}
		s += len;
		switch (k) {
		case T_LONGMONTH: buf_puts(b, months[tm->tm_mon]); break;
		case T_MONTH: buf_append(b, months[tm->tm_mon], 3); break;
		case T_NUMMONTH: pad(b, tm->tm_mon + 1, 0, '0'); break;
		case T_ZEROMONTH: pad(b, tm->tm_mon + 1, 2, '0'); break;
		case T_LONGWEEKDAY: buf_puts(b, days[tm->tm_wday]); break;
		case T_WEEKDAY: buf_append(b, days[tm->tm_wday], 3); break;
		case T_DAY: pad(b, tm->tm_mday, 0, '0'); break;
		case T_UNDERDAY: pad(b, tm->tm_mday, 2, ' '); break;
		case T_ZERODAY: pad(b, tm->tm_mday, 2, '0'); break;
		case T_UNDERYEARDAY: pad(b, tm->tm_yday + 1, 3, ' '); break;
		case T_ZEROYEARDAY: pad(b, tm->tm_yday + 1, 3, '0'); break;
		case T_HOUR: pad(b, tm->tm_hour, 2, '0'); break;
		case T_HOUR12: pad(b, hour12, 0, '0'); break;
		case T_ZEROHOUR12: pad(b, hour12, 2, '0'); break;
		case T_MINUTE: pad(b, tm->tm_min, 0, '0'); break;
		case T_ZEROMINUTE: pad(b, tm->tm_min, 2, '0'); break;
		case T_SECOND: pad(b, tm->tm_sec, 0, '0'); break;
		case T_ZEROSECOND: pad(b, tm->tm_sec, 2, '0'); break;
		case T_LONGYEAR: pad(b, year, 4, '0'); break;
		case T_YEAR: pad(b, year % 100, 2, '0'); break;
		case T_PM: buf_puts(b, tm->tm_hour >= 12 ? "PM" : "AM"); break;
		case T_pm: buf_puts(b, tm->tm_hour >= 12 ? "pm" : "am"); break;
		case T_TZ: buf_puts(b, p.zone); break;
		case T_ISO8601TZ: tzoff(b, p.off, false, false, false, true); break;
		case T_ISO8601SECONDSTZ: tzoff(b, p.off, false, true, false, true); break;
		case T_ISO8601SHORTTZ: tzoff(b, p.off, false, false, true, true); break;
		case T_ISO8601COLONTZ: tzoff(b, p.off, true, false, false, true); break;
		case T_ISO8601COLONSECONDSTZ: tzoff(b, p.off, true, true, false, true); break;
		case T_NUMTZ: tzoff(b, p.off, false, false, false, false); break;
		case T_NUMSECONDSTZ: tzoff(b, p.off, false, true, false, false); break;
		case T_NUMSHORTTZ: tzoff(b, p.off, false, false, true, false); break;
		case T_NUMCOLONTZ: tzoff(b, p.off, true, false, false, false); break;
		case T_NUMCOLONSECONDSTZ: tzoff(b, p.off, true, true, false, false); break;
		case T_FRAC0:
		case T_FRAC9: {
			char digits[10];
			long ns = p.nsec;
			for (int i = 8; i >= 0; i--) {
				digits[i] = (char)('0' + ns % 10);
				ns /= 10;
			}
			int n = fd > 9 ? 9 : fd;
			if (k == T_FRAC9) {
				while (n > 0 && digits[n - 1] == '0')
					n--;
				if (n == 0)
					break; /* .999 with no fraction: nothing, not even the dot */
			}
			buf_putc(b, *(s - len)); /* '.' or ',' as written */
			buf_append(b, digits, (size_t)n);
			break;
		}
		default:
			break;
		}
	}
	if (b->len < start)
		return -1;
	return 0;
}

int gotime_string(struct buf *b, struct ktime t, bool utc)
{
	return gotime_format(b, t, utc, "2006-01-02 15:04:05.999999999 -0700 MST");
}
