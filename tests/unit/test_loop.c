/* test_loop.c -- the event loop's fd registrations: watch, park, remove. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop.h"
#include "test.h"

/* Whether some epoll instance of this process has fd registered, read from
 * /proc/self/fdinfo: the kernel's view, not the loop's. */
static bool registered(int fd)
{
	bool found = false;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return false;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		char path[300], link[64], line[256];
		snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, link, sizeof link - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]") != 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/fdinfo/%s", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof line, f)) {
			int t;
			if (sscanf(line, "tfd: %d", &t) == 1 && t == fd)
				found = true;
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

static int calls;
static void on_fd(struct loop *l, int fd, int events, void *ctx)
{
	(void)l;
	(void)fd;
	(void)ctx;
	if (events & LOOP_READ)
		calls++;
}

/* Each test: a fresh loop and a pipe whose read end it watches. */
static struct loop *setup(int p[2])
{
	calls = 0;
	if (pipe(p) != 0)
		return NULL;
	return loop_new();
}

static void teardown(struct loop *l, int p[2])
{
	loop_fd(l, p[0], 0, NULL, NULL);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static void watch_and_remove(void)
{
	int p[2];
	struct loop *l = setup(p);
	CHECK(l);
	CHECK_INT(loop_fd(l, p[0], LOOP_READ, on_fd, NULL), 0);
	CHECK(registered(p[0]));
	CHECK_INT(write(p[1], "x", 1), 1);
	loop_once(l, 100);
	CHECK_INT(calls, 1);
	CHECK_INT(loop_fd(l, p[0], 0, NULL, NULL), 0);
	CHECK(!registered(p[0]));
	loop_once(l, 10);
	CHECK_INT(calls, 1);
	teardown(l, p);
}

/* A parked fd stays registered but is not reported; watched again with the
 * same interest it is reported again; ready while parked, it is dropped. */
static void park_and_resume(void)
{
	int p[2];
	struct loop *l = setup(p);
	CHECK(l);
	CHECK_INT(loop_fd(l, p[0], LOOP_READ, on_fd, NULL), 0);
	loop_fd_park(l, p[0]);
	CHECK(registered(p[0]));
	CHECK_INT(loop_fd(l, p[0], LOOP_READ, on_fd, NULL), 0);
	CHECK_INT(write(p[1], "x", 1), 1);
	loop_once(l, 100);
	CHECK_INT(calls, 1);

	loop_fd_park(l, p[0]); /* still readable: the next wait unregisters it */
	loop_once(l, 100);
	CHECK_INT(calls, 1);
	CHECK(!registered(p[0]));
	CHECK_INT(loop_fd(l, p[0], LOOP_READ, on_fd, NULL), 0); /* registered afresh */
	CHECK(registered(p[0]));
	loop_once(l, 100);
	CHECK_INT(calls, 2);
	teardown(l, p);
}

/* The owner removes a parked fd before closing it; a new file that gets the
 * same number is then registered for real, not taken as registered already. */
static void parked_fd_number_reused(void)
{
	int p[2], q[2];
	struct loop *l = setup(p);
	CHECK(l);
	CHECK_INT(loop_fd(l, p[0], LOOP_READ, on_fd, NULL), 0);
	loop_fd_park(l, p[0]);
	CHECK_INT(loop_fd(l, p[0], 0, NULL, NULL), 0);
	CHECK(!registered(p[0]));
	int num = p[0];
	close(p[0]);
	close(p[1]);
	CHECK(pipe(q) == 0);
	CHECK_INT(q[0], num);
	CHECK_INT(loop_fd(l, q[0], LOOP_READ, on_fd, NULL), 0);
	CHECK(registered(q[0]));
	CHECK_INT(write(q[1], "x", 1), 1);
	loop_once(l, 100);
	CHECK_INT(calls, 1);
	teardown(l, q);
}

/* Changing the interest of a watched fd takes effect at once. */
static void change_interest(void)
{
	int p[2];
	struct loop *l = setup(p);
	CHECK(l);
	CHECK_INT(write(p[1], "x", 1), 1);
	CHECK_INT(loop_fd(l, p[0], LOOP_WRITE, on_fd, NULL), 0); /* a read end never is writable */
	loop_once(l, 20);
	CHECK_INT(calls, 0);
	CHECK_INT(loop_fd(l, p[0], LOOP_READ, on_fd, NULL), 0);
	loop_once(l, 100);
	CHECK_INT(calls, 1);
	teardown(l, p);
}

const struct test_case test_loop[] = {
	TEST(watch_and_remove),
	TEST(park_and_resume),
	TEST(parked_fd_number_reused),
	TEST(change_interest),
	TEST_END,
};
