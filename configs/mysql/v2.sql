-- The mysql sink's own table (schema=v2; create_table=true creates it): utf8mb4 (4-byte
-- characters too), message TEXT (64 KiB; longer messages are cut at a character boundary),
-- times as DATETIME(6) in UTC (NULL when the Event has none), the Event's count and the
-- sink's cluster_name, and a unique key on (event_id, count): a batch sent twice -- its answer
-- lost with the connection -- stores each row once (the sink's INSERT ends in ON DUPLICATE KEY
-- UPDATE event_id=event_id). One row per Event change, as upstream writes.
CREATE TABLE IF NOT EXISTS `kube_event` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `cluster_name` varchar(255) NOT NULL DEFAULT '',
  `namespace` varchar(255) NOT NULL DEFAULT '',
  `kind` varchar(255) NOT NULL DEFAULT '',
  `name` varchar(255) NOT NULL DEFAULT '',
  `type` varchar(255) NOT NULL DEFAULT '',
  `reason` varchar(255) NOT NULL DEFAULT '',
  `message` text NOT NULL,
  `event_id` varchar(64) NOT NULL DEFAULT '',
  `count` int NOT NULL DEFAULT 1,
  `first_occurrence_time` datetime(6) NULL DEFAULT NULL,
  `last_occurrence_time` datetime(6) NULL DEFAULT NULL,
  `update_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_event_id_count` (`event_id`,`count`),
  KEY `idx_last_occurrence_time` (`last_occurrence_time`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
