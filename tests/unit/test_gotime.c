/* Unit tests for gotime.c: Go's Time.Format and Time.String in several zones. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "gotime.h"
#include "test.h"

static char saved_tz[128];
static bool had_tz;

static bool use_tz(const char *tz)
{
	const char *cur = getenv("TZ");
	had_tz = cur != NULL;
	snprintf(saved_tz, sizeof saved_tz, "%s", cur ? cur : "");
	char path[256];
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
	if (strcmp(tz, "UTC") != 0 && access(path, R_OK) != 0) {
		test_fail(__FILE__, __LINE__, "zoneinfo %s missing: install tzdata", path);
		return false;
	}
	setenv("TZ", tz, 1);
	tzset();
	return true;
}

static void restore_tz(void)
{
	if (had_tz)
		setenv("TZ", saved_tz, 1);
	else
		unsetenv("TZ");
	tzset();
}

static const char *fmt(struct ktime t, bool utc, const char *layout)
{
	static char out[256];
	struct buf b = BUF_INIT(255);
	gotime_format(&b, t, utc, layout);
	snprintf(out, sizeof out, "%s", buf_str(&b));
	buf_free(&b);
	return out;
}

static const char *str(struct ktime t, bool utc)
{
	static char out[256];
	struct buf b = BUF_INIT(255);
	gotime_string(&b, t, utc);
	snprintf(out, sizeof out, "%s", buf_str(&b));
	buf_free(&b);
	return out;
}

static const struct ktime T = { 1709622489, 0 }; /* 2024-03-05T07:08:09Z, a Tuesday */

static void shanghai(void)
{
	if (!use_tz("Asia/Shanghai"))
		return;
	CHECK_STR(str(T, false), "2024-03-05 15:08:09 +0800 CST");
	CHECK_STR(fmt(T, false, "2006-01-02 15:04:05"), "2024-03-05 15:08:09");
	CHECK_STR(fmt(T, false, "Mon Jan _2 3:04PM"), "Tue Mar  5 3:08PM");
	CHECK_STR(fmt(T, false, "2006-01-02T15:04:05Z07:00"), "2024-03-05T15:08:09+08:00");
	CHECK_STR(fmt(T, false, "Monday, January 2, 2006 at 03:04:05.000 pm -0700 MST"),
	          "Tuesday, March 5, 2024 at 03:08:09.000 pm +0800 CST");
	CHECK_STR(fmt(T, false, "002 __2 06 1/2 -07 Z0700"), "065  65 24 3/5 +08 +0800");
	CHECK_STR(str(T, true), "2024-03-05 07:08:09 +0000 UTC");
	CHECK_STR(fmt(T, true, "2006-01-02T15:04:05Z07:00"), "2024-03-05T07:08:09Z");
	restore_tz();
}

static void utc_and_zero_time(void)
{
	if (!use_tz("UTC"))
		return;
	CHECK_STR(str(T, false), "2024-03-05 07:08:09 +0000 UTC");
	struct ktime zero = { 0, 0 };
	CHECK_STR(str(zero, false), "0001-01-01 00:00:00 +0000 UTC");
	CHECK_STR(fmt(zero, false, "Mon 2006-01-02"), "Mon 0001-01-01");
	restore_tz();
}

static void dst_and_half_hour_zones(void)
{
	if (!use_tz("America/New_York"))
		return;
	struct ktime summer = { 1720094400, 0 }; /* 2024-07-04T12:00:00Z */
	struct ktime winter = { 1705320000, 0 }; /* 2024-01-15T12:00:00Z */
	CHECK_STR(str(summer, false), "2024-07-04 08:00:00 -0400 EDT");
	CHECK_STR(str(winter, false), "2024-01-15 07:00:00 -0500 EST");
	restore_tz();
	if (!use_tz("Asia/Kolkata"))
		return;
	CHECK_STR(str(T, false), "2024-03-05 12:38:09 +0530 IST");
	CHECK_STR(fmt(T, false, "-07:00|Z07|-070000|Z07:00:00"), "+05:30|+05|+053000|+05:30:00");
	restore_tz();
}

static void fractional_seconds(void)
{
	if (!use_tz("UTC"))
		return;
	struct ktime t = { 1689053684, 764227000 }; /* eventTime 2023-07-11T05:34:44.764227Z */
	CHECK_STR(str(t, false), "2023-07-11 05:34:44.764227 +0000 UTC");
	CHECK_STR(fmt(t, false, "05.000"), "44.764");
	CHECK_STR(fmt(t, false, "05.999"), "44.764");
	CHECK_STR(fmt(t, false, "05,000000000"), "44,764227000");
	struct ktime half = { 1689053684, 500000000 };
	CHECK_STR(fmt(half, false, "05.999999999"), "44.5");
	CHECK_STR(fmt(T, false, "05.999|05.000"), "09|09.000");
	restore_tz();
}

static void layout_literals_follow_go(void)
{
	if (!use_tz("UTC"))
		return;
	CHECK_STR(fmt(T, false, "Janet"), "Janet"); /* Jan + lower-case: literal */
	CHECK_STR(fmt(T, false, "_2006"), "_2024"); /* literal _ then the year */
	CHECK_STR(fmt(T, false, "Monkey"), "Monkey");
	CHECK_STR(fmt(T, false, "Jan.05.0"), "Mar.09.0"); /* ".0" followed by nothing: fraction */
	CHECK_STR(fmt(T, false, "15h"), "07h");
	CHECK_STR(fmt(T, false, "3 PM pm"), "7 AM am");
	restore_tz();
}

const struct test_case test_gotime[] = {
	TEST(shanghai),           TEST(utc_and_zero_time),         TEST(dst_and_half_hour_zones),
	TEST(fractional_seconds), TEST(layout_literals_follow_go), TEST_END,
};
