/*
 * kafkamock -- librdkafka's mock Kafka cluster on loopback, for the kafka
 * sink's tests (tests/integration/test_kafka.py) and its benchmark. A test
 * tool: it links Debian's librdkafka (glibc), never the shipped binary.
 *
 *   kafkamock BROKERS TOPIC PARTITIONS
 *
 * Prints "ready <bootstrap servers>" (e.g. 127.0.0.1:40001,127.0.0.1:40002),
 * then obeys one command per line on stdin, answering "ok" or "error ...":
 *
 *   down N | up N                   take broker N (1..BROKERS) down or up
 *   leader PARTITION N              make broker N the partition's leader
 *   errors APIKEY CODE...           the next requests of APIKEY (any broker) fail with CODEs
 *   broker_errors N APIKEY CODE...  the same on broker N only (-195 closes the connection)
 *   apiversion APIKEY MIN MAX       what ApiVersions advertises for APIKEY
 *   rtt N MS                        delay broker N's answers
 *   topic NAME PARTITIONS           create another topic
 *   quit                            (or end of input) stop
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int num(const char *s)
{
	return (int)strtol(s, NULL, 10);
}

int main(int argc, char **argv)
{
	char err[512];
	if (argc != 4) {
		fprintf(stderr, "usage: kafkamock BROKERS TOPIC PARTITIONS\n");
		return 2;
	}
	int brokers = num(argv[1]), parts = num(argv[3]);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "kafkamock: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "kafkamock: cannot start the mock cluster\n");
		return 1;
	}
	if (rd_kafka_mock_topic_create(mc, argv[2], parts, brokers < 3 ? brokers : 3)) {
		fprintf(stderr, "kafkamock: cannot create topic %s\n", argv[2]);
		return 1;
	}
	printf("ready %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	char line[1024];
	while (fgets(line, sizeof line, stdin)) {
		char *w[64];
		int n = 0;
		for (char *t = strtok(line, " \t\r\n"); t && n < 64; t = strtok(NULL, " \t\r\n"))
			w[n++] = t;
		if (!n)
			continue;
		rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
		if (!strcmp(w[0], "quit")) {
			break;
		} else if (!strcmp(w[0], "down") && n == 2) {
			e = rd_kafka_mock_broker_set_down(mc, num(w[1]));
		} else if (!strcmp(w[0], "up") && n == 2) {
			e = rd_kafka_mock_broker_set_up(mc, num(w[1]));
		} else if (!strcmp(w[0], "leader") && n == 3) {
			e = rd_kafka_mock_partition_set_leader(mc, argv[2], num(w[1]), num(w[2]));
		} else if (!strcmp(w[0], "errors") && n >= 3) {
			rd_kafka_resp_err_t codes[60];
			for (int i = 2; i < n; i++)
				codes[i - 2] = (rd_kafka_resp_err_t)num(w[i]);
			rd_kafka_mock_push_request_errors_array(mc, (int16_t)num(w[1]), (size_t)(n - 2),
			                                        codes);
		} else if (!strcmp(w[0], "broker_errors") && n >= 4) {
			for (int i = 3; i < n && !e; i++)
				e = rd_kafka_mock_broker_push_request_error_rtts(
				    mc, num(w[1]), (int16_t)num(w[2]), 1, (rd_kafka_resp_err_t)num(w[i]), 0);
		} else if (!strcmp(w[0], "apiversion") && n == 4) {
			e = rd_kafka_mock_set_apiversion(mc, (int16_t)num(w[1]), (int16_t)num(w[2]),
			                                 (int16_t)num(w[3]));
		} else if (!strcmp(w[0], "rtt") && n == 3) {
			e = rd_kafka_mock_broker_set_rtt(mc, num(w[1]), num(w[2]));
		} else if (!strcmp(w[0], "topic") && n == 3) {
			e = rd_kafka_mock_topic_create(mc, w[1], num(w[2]), brokers < 3 ? brokers : 3);
		} else {
			printf("error unknown command %s\n", w[0]);
			fflush(stdout);
			continue;
		}
		if (e)
			printf("error %s\n", rd_kafka_err2str(e));
		else
			printf("ok\n");
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
