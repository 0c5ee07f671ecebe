/* The benchmarks' workload in the Linux guest (see init): a running program's
 * anonymous memory, then writes into it at a set rate.
 *
 *   dirty ANON_MIB HOT_MIB RATE_MIB_S
 *
 * Fills ANON_MIB MiB the way a program's heap looks (objects of pointers and
 * small integers, text, compressed or encrypted bytes, sparse pages and pages
 * it touched but left zero), says "guest: DIRTYING" on standard output, then
 * every 10 ms writes into RATE_MIB_S/100 MiB worth of pages chosen at random
 * in the first HOT_MIB MiB (its working set): a counter, a timestamp and a
 * 64-byte record in each, as a program updates its objects. Runs until the
 * guest is stopped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static uint64_t state = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static const char *words[] = {
	"migration", "guest", "page", "device", "state", "memory", "kernel",
	"request", "session", "connection", "buffer", "record", "value", "index",
};

static void fill(uint8_t *pg, size_t n)
{
	uint64_t *w = (uint64_t *)pg;
	size_t i, at;

	switch (n % 10) {
	case 0: case 1: case 2: case 3:
		/* Objects: pointers into the heap, lengths, flags, padding. */
		for (i = 0; i < 512; i += 4) {
			w[i] = 0x00007f3a00000000ull + ((n * 4096 + i * 8 + (next() & 0xfff0)) & 0xffffffffull);
			w[i + 1] = next() % 4096;
			w[i + 2] = (next() & 1) ? 0x1 : 0x11;
			w[i + 3] = 0;
		}
		break;
	case 4: case 5: case 6:
		/* Text. */
		for (at = 0; at < 4000;) {
			const char *s = words[next() % 14];
			size_t len = strlen(s);
			memcpy(pg + at, s, len);
			pg[at + len] = (next() % 7) ? ' ' : '\n';
			at += len + 1;
		}
		break;
	case 7:
		/* Compressed or encrypted bytes. */
		for (i = 0; i < 512; i++)
			w[i] = next();
		break;
	case 8:
		/* Sparse: a header and a few fields. */
		w[0] = n;
		w[1] = next();
		w[64] = 0xffffffffull;
		break;
	default:
		/* Touched and left zero. */
		pg[0] = 1;
		pg[0] = 0;
		break;
	}
}

int main(int argc, char **argv)
{
	size_t anon, hot, pages, hot_pages, per_tick, i, n;
	double rate;
	uint8_t *m;
	struct timespec tick = { 0, 10 * 1000 * 1000 }, now;

	if (argc != 4) {
		fprintf(stderr, "usage: dirty ANON_MIB HOT_MIB RATE_MIB_S\n");
		return 2;
	}
	anon = strtoul(argv[1], NULL, 10);
	hot = strtoul(argv[2], NULL, 10);
	rate = strtod(argv[3], NULL);
	pages = anon * 256;
	hot_pages = (hot < anon ? hot : anon) * 256;
	m = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (m == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (n = 0; n < pages; n++)
		fill(m + n * 4096, n);
	printf("guest: DIRTYING %zu MiB, %zu MiB hot, %.0f MiB/s\n", anon, hot, rate);
	fflush(stdout);
	per_tick = (size_t)(rate * 256 / 100);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (i = 0; i < per_tick && hot_pages; i++) {
			uint8_t *pg = m + (next() % hot_pages) * 4096;
			uint64_t *w = (uint64_t *)pg;
			size_t rec = (next() % 63) * 64;
			w[0]++;
			w[1] = (uint64_t)now.tv_sec * 1000000000ull + now.tv_nsec;
			memset(pg + rec, (int)(w[0] & 0xff), 64);
		}
		nanosleep(&tick, NULL);
	}
}
