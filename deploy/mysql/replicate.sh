#!/bin/sh
# Run by the mysql image at the read replica's first start (docker compose --profile replica):
# replicate the primary `mysql` by GTID, then turn super-read-only. That comes last: given on
# the command line, it reaches the image's initialisation server too, which then refuses its
# own ALTER USER and CREATE USER, and the container exits. SET PERSIST keeps it across restarts
# (mysqld-auto.cnf in the data directory).
set -eu
mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -e "
  CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'mysql', SOURCE_PORT = 3306,
    SOURCE_USER = 'root', SOURCE_PASSWORD = '$MYSQL_ROOT_PASSWORD',
    SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1;
  START REPLICA;
  SET PERSIST super_read_only = ON;"
