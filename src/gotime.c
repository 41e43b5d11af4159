/*
 * gotime.c -- Go reference-layout time formatting over localtime_r/gmtime_r.
 *
 * The layout scanner follows Go's nextStdChunk (src/time/format.go) element
 * by element, so a layout prints here exactly as time.Format prints it.
 * Output is assembled in a small stack chunk and appended in pieces: no
 * allocation beyond the caller's buffer.
 */
#include "gotime.h"

#include <string.h>
#include <time.h>

#include "util.h"

static const char *const days[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
	                            "Thursday", "Friday", "Saturday" };
static const char *const months[] = { "January", "February", "March",     "April",   "May",      "June",
	                              "July",    "August",   "September", "October", "November", "December" };

enum std {
	S_NONE,
	S_LONGMONTH, /* January */
	S_MONTH,     /* Jan */
	S_NUMMONTH,  /* 1 */
	S_ZEROMONTH, /* 01 */
	S_LONGWEEKDAY,
	S_WEEKDAY,
	S_DAY,          /* 2 */
	S_UNDERDAY,     /* _2 */
	S_ZERODAY,      /* 02 */
	S_UNDERYEARDAY, /* __2 */
	S_ZEROYEARDAY,  /* 002 */
	S_HOUR,         /* 15 */
	S_HOUR12,       /* 3 */
	S_ZEROHOUR12,   /* 03 */
	S_MINUTE,
	S_ZEROMINUTE,
	S_SECOND,
	S_ZEROSECOND,
	S_LONGYEAR, /* 2006 */
	S_YEAR,     /* 06 */
	S_PM,
	S_pm,
	S_TZ, /* MST */
	S_ISO8601TZ,
	S_ISO8601SECONDSTZ,
	S_ISO8601SHORTTZ,
	S_ISO8601COLONTZ,
	S_ISO8601COLONSECONDSTZ,
	S_NUMTZ,
	S_NUMSECONDSTZ,
	S_NUMSHORTTZ,
	S_NUMCOLONTZ,
	S_NUMCOLONSECONDSTZ,
	S_FRAC0, /* .000 */
	S_FRAC9, /* .999 */
};

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The layout element starting at s (Go's nextStdChunk, one position at a
 * time): its code and length in *len, S_NONE for a literal byte. For
 * fractions *digits is the digit count.
 */
static enum std next_std(const char *s, size_t *len, int *digits)
{
	static const struct {
		const char *text;
		enum std code;
	} zones[] = {
		/* Go's order: longest alternatives first */
		{ "-070000", S_NUMSECONDSTZ },
		{ "-07:00:00", S_NUMCOLONSECONDSTZ },
		{ "-0700", S_NUMTZ },
		{ "-07:00", S_NUMCOLONTZ },
		{ "-07", S_NUMSHORTTZ },
		{ "Z070000", S_ISO8601SECONDSTZ },
		{ "Z07:00:00", S_ISO8601COLONSECONDSTZ },
		{ "Z0700", S_ISO8601TZ },
		{ "Z07:00", S_ISO8601COLONTZ },
		{ "Z07", S_ISO8601SHORTTZ },
	};
	static const enum std zero_x[] = { S_ZEROMONTH,  S_ZERODAY,    S_ZEROHOUR12,
		                           S_ZEROMINUTE, S_ZEROSECOND, S_YEAR };

	*len = 1;
	switch (s[0]) {
	case 'J': /* Jan, January */
		if (str_starts(s, "Jan")) {
			if (str_starts(s, "January")) {
				*len = 7;
				return S_LONGMONTH;
			}
			if (!is_lower(s[3])) {
				*len = 3;
				return S_MONTH;
			}
		}
		break;
	case 'M': /* Monday, Mon, MST */
		if (str_starts(s, "Mon")) {
			if (str_starts(s, "Monday")) {
				*len = 6;
				return S_LONGWEEKDAY;
			}
			if (!is_lower(s[3])) {
				*len = 3;
				return S_WEEKDAY;
			}
		}
		if (str_starts(s, "MST")) {
			*len = 3;
			return S_TZ;
		}
		break;
	case '0': /* 01, 02, 03, 04, 05, 06, 002 */
		if (s[1] >= '1' && s[1] <= '6') {
			*len = 2;
			return zero_x[s[1] - '1'];
		}
		if (s[1] == '0' && s[2] == '2') {
			*len = 3;
			return S_ZEROYEARDAY;
		}
		break;
	case '1': /* 15, 1 */
		if (s[1] == '5') {
			*len = 2;
			return S_HOUR;
		}
		return S_NUMMONTH;
	case '2': /* 2006, 2 */
		if (str_starts(s, "2006")) {
			*len = 4;
			return S_LONGYEAR;
		}
		return S_DAY;
	case '_': /* _2, _2006, __2 */
		if (s[1] == '2') {
			/* _2006 is a literal _ followed by the long year */
			if (str_starts(s + 1, "2006"))
				return S_NONE;
			*len = 2;
			return S_UNDERDAY;
		}
		if (s[1] == '_' && s[2] == '2') {
			*len = 3;
			return S_UNDERYEARDAY;
		}
		break;
	case '3':
		return S_HOUR12;
	case '4':
		return S_MINUTE;
	case '5':
		return S_SECOND;
	case 'P':
		if (s[1] == 'M') {
			*len = 2;
			return S_PM;
		}
		break;
	case 'p':
		if (s[1] == 'm') {
			*len = 2;
			return S_pm;
		}
		break;
	case '-':
	case 'Z':
		for (size_t i = 0; i < ARRAY_LEN(zones); i++) {
			if (str_starts(s, zones[i].text)) {
				*len = strlen(zones[i].text);
				return zones[i].code;
			}
		}
		break;
	case '.':
	case ',': /* .000 .999 ,000 ,999: a run of one digit not followed by another digit */
		if (s[1] == '0' || s[1] == '9') {
			size_t j = 1;
			while (s[j] == s[1])
				j++;
			if (!is_digit(s[j])) {
				*len = j;
				*digits = (int)(j - 1);
				return s[1] == '0' ? S_FRAC0 : S_FRAC9;
			}
		}
		break;
	default:
		break;
	}
	return S_NONE;
}

/* Output is staged in a stack chunk; rc sticks at -1 once an append fails. */
struct out {
	struct buf *b;
	size_t n;
	int rc;
	char chunk[128];
};

static void flush(struct out *o)
{
	if (o->n && o->rc == 0 && buf_append(o->b, o->chunk, o->n) < 0)
		o->rc = -1;
	o->n = 0;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (o->n + n > sizeof o->chunk) {
		flush(o);
		if (n > sizeof o->chunk) {
			if (o->rc == 0 && buf_append(o->b, s, n) < 0)
				o->rc = -1;
			return;
		}
	}
	memcpy(o->chunk + o->n, s, n);
	o->n += n;
}

static void putc1(struct out *o, char c)
{
	put(o, &c, 1);
}

/* Go's appendInt: v in decimal, at least width digits padded with fill. */
static void put_int(struct out *o, long long v, int width, char fill)
{
	char tmp[24];
	int n = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		putc1(o, '-');
	for (int i = n; i < width; i++)
		putc1(o, fill);
	while (n)
		putc1(o, tmp[--n]);
}

/* A time broken down in the zone it prints in. */
struct parts {
	struct tm tm;
	long off;         /* seconds east of UTC */
	const char *zone; /* abbreviation; "" when the zone has none */
};

static void split(struct ktime t, bool utc, struct parts *p)
{
	memset(&p->tm, 0, sizeof p->tm);
	p->off = 0;
	p->zone = "UTC";
	if (ktime_is_zero(t)) {
		/* Go's zero Time: January 1, year 1, 00:00:00 UTC, a Monday */
		p->tm.tm_year = 1 - 1900;
		p->tm.tm_mday = 1;
		p->tm.tm_wday = 1;
		return;
	}
	time_t sec = (time_t)t.sec;
	if (utc) {
		if (!gmtime_r(&sec, &p->tm))
			memset(&p->tm, 0, sizeof p->tm);
		return;
	}
	if (!localtime_r(&sec, &p->tm)) {
		memset(&p->tm, 0, sizeof p->tm);
		return;
	}
	p->off = p->tm.tm_gmtoff;
	p->zone = p->tm.tm_zone ? p->tm.tm_zone : "";
}

/* The numeric zone forms (Go's format.go, case stdISO8601TZ ... stdNumColonSecondsTZ). */
static void put_zone(struct out *o, long off, enum std code)
{
	bool iso = code == S_ISO8601TZ || code == S_ISO8601SECONDSTZ || code == S_ISO8601SHORTTZ ||
	           code == S_ISO8601COLONTZ || code == S_ISO8601COLONSECONDSTZ;
	bool colon = code == S_ISO8601COLONTZ || code == S_NUMCOLONTZ || code == S_ISO8601COLONSECONDSTZ ||
	             code == S_NUMCOLONSECONDSTZ;
	bool shorthand = code == S_NUMSHORTTZ || code == S_ISO8601SHORTTZ;
	bool seconds = code == S_ISO8601SECONDSTZ || code == S_NUMSECONDSTZ ||
	               code == S_ISO8601COLONSECONDSTZ || code == S_NUMCOLONSECONDSTZ;
	if (iso && off == 0) {
		putc1(o, 'Z');
		return;
	}
	long abs = off < 0 ? -off : off;
	long zone = abs / 60; /* minutes */
	putc1(o, off < 0 ? '-' : '+');
	put_int(o, zone / 60, 2, '0');
	if (colon)
		putc1(o, ':');
	if (!shorthand)
		put_int(o, zone % 60, 2, '0');
	if (seconds) {
		if (colon)
			putc1(o, ':');
		put_int(o, abs % 60, 2, '0');
	}
}

/* Go's appendNano: the fraction with the separator as written. */
static void put_frac(struct out *o, int32_t nsec, int digits, bool trim, char sep)
{
	char d[9];
	long ns = nsec < 0 ? 0 : nsec % 1000000000;
	for (int i = 8; i >= 0; i--) {
		d[i] = (char)('0' + ns % 10);
		ns /= 10;
	}
	int n = digits > 9 ? 9 : digits;
	if (trim) {
		while (n > 0 && d[n - 1] == '0')
			n--;
		if (n == 0)
			return; /* .999 of a whole second: neither digits nor separator */
	}
	putc1(o, sep);
	put(o, d, (size_t)n);
}

int gotime_format(struct buf *b, struct ktime t, bool utc, const char *layout)
{
	struct parts p;
	struct out o = { .b = b };
	size_t start = b->len;
	split(t, utc, &p);
	const struct tm *tm = &p.tm;
	long long year = (long long)tm->tm_year + 1900;
	int hour12 = tm->tm_hour % 12 == 0 ? 12 : tm->tm_hour % 12;

	for (const char *s = layout; *s && o.rc == 0;) {
		size_t len;
		int digits = 0;
		enum std code = next_std(s, &len, &digits);
		if (code == S_NONE) {
			put(&o, s, len);
			s += len;
			continue;
		}
		char sep = s[0];
		s += len;
		switch (code) {
		case S_LONGMONTH:
			put(&o, months[tm->tm_mon], strlen(months[tm->tm_mon]));
			break;
		case S_MONTH:
			put(&o, months[tm->tm_mon], 3);
			break;
		case S_NUMMONTH:
			put_int(&o, tm->tm_mon + 1, 0, '0');
			break;
		case S_ZEROMONTH:
			put_int(&o, tm->tm_mon + 1, 2, '0');
			break;
		case S_LONGWEEKDAY:
			put(&o, days[tm->tm_wday], strlen(days[tm->tm_wday]));
			break;
		case S_WEEKDAY:
			put(&o, days[tm->tm_wday], 3);
			break;
		case S_DAY:
			put_int(&o, tm->tm_mday, 0, '0');
			break;
		case S_UNDERDAY:
			put_int(&o, tm->tm_mday, 2, ' ');
			break;
		case S_ZERODAY:
			put_int(&o, tm->tm_mday, 2, '0');
			break;
		case S_UNDERYEARDAY:
			put_int(&o, tm->tm_yday + 1, 3, ' ');
			break;
		case S_ZEROYEARDAY:
			put_int(&o, tm->tm_yday + 1, 3, '0');
			break;
		case S_HOUR:
			put_int(&o, tm->tm_hour, 2, '0');
			break;
		case S_HOUR12:
			put_int(&o, hour12, 0, '0');
			break;
		case S_ZEROHOUR12:
			put_int(&o, hour12, 2, '0');
			break;
		case S_MINUTE:
			put_int(&o, tm->tm_min, 0, '0');
			break;
		case S_ZEROMINUTE:
			put_int(&o, tm->tm_min, 2, '0');
			break;
		case S_SECOND:
			put_int(&o, tm->tm_sec, 0, '0');
			break;
		case S_ZEROSECOND:
			put_int(&o, tm->tm_sec, 2, '0');
			break;
		case S_LONGYEAR:
			put_int(&o, year, 4, '0');
			break;
		case S_YEAR:
			put_int(&o, (year < 0 ? -year : year) % 100, 2, '0');
			break;
		case S_PM:
			put(&o, tm->tm_hour >= 12 ? "PM" : "AM", 2);
			break;
		case S_pm:
			put(&o, tm->tm_hour >= 12 ? "pm" : "am", 2);
			break;
		case S_TZ:
			if (*p.zone) {
				put(&o, p.zone, strlen(p.zone));
			} else {
				/* no abbreviation: Go prints the -0700 form */
				put_zone(&o, p.off, S_NUMTZ);
			}
			break;
		case S_FRAC0:
		case S_FRAC9:
			put_frac(&o, t.nsec, digits, code == S_FRAC9, sep);
			break;
		case S_NONE:
			break;
		default:
			put_zone(&o, p.off, code);
			break;
		}
	}
	flush(&o);
	if (o.rc < 0) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
		return -1;
	}
	return 0;
}

int gotime_string(struct buf *b, struct ktime t, bool utc)
{
	return gotime_format(b, t, utc, "2006-01-02 15:04:05.999999999 -0700 MST");
}
