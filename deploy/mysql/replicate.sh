#!/bin/sh
# Run by the mysql image at the read replica's first start (docker compose --profile replica):
# replicate the primary `mysql` by GTID. The replica is super-read-only; query-api-replica
# reads the read models from it.
set -eu
mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -e "
  CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'mysql', SOURCE_PORT = 3306,
    SOURCE_USER = 'root', SOURCE_PASSWORD = '$MYSQL_ROOT_PASSWORD',
    SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1;
  START REPLICA;"
