-- kube-eventer's (upstream's) MySQL table, as common/mysql/shema.sql creates it, without its
-- DROP TABLE. The mysql sink writes it by default (schema=upstream) and creates it when asked
-- (create_table=true). Times are strings, Go's Time.String() in the process zone:
-- "2024-03-05 15:08:09 +0800 CST". No unique key: a batch retried after its answer was lost
-- may be stored twice (add UNIQUE KEY (event_id, last_occurrence_time) to prevent that).
-- In strict mode a message longer than 255 characters is refused (the sink drops that row and
-- says so; message_max=255 cuts messages to fit instead).
CREATE TABLE IF NOT EXISTS `kube_event` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `namespace` varchar(255) DEFAULT '',
  `kind` varchar(255) DEFAULT '',
  `name` varchar(255) DEFAULT '',
  `type` varchar(255) DEFAULT '',
  `reason` varchar(255) DEFAULT '',
  `message` varchar(255) DEFAULT '',
  `event_id` varchar(255) DEFAULT '',
  `first_occurrence_time` varchar(255) DEFAULT '',
  `last_occurrence_time` varchar(255) DEFAULT '',
  `update_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
