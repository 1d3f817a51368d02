"""Checks that docs/athena.md can be pasted into Athena, and that its queries answer on real
records: every CREATE TABLE and query parses with sqlglot's athena dialect, no DDL column is an
unquoted Athena DDL reserved word and no query uses an unquoted SELECT reserved word as an
identifier, and every query runs on DuckDB over the audit records in RECORDS_DIR (written by
the real binary: the demo's file sink). Also recomputes each record's hash the way
docs/reference.md section 7 documents it.

usage: check-athena.py docs/athena.md RECORDS_DIR
"""

import glob
import hashlib
import json
import os
import re
import sys

import duckdb
import sqlglot
from sqlglot import exp

# https://docs.aws.amazon.com/athena/latest/ug/reserved-words.html
DDL_RESERVED = set("""
ALL ALTER AND ARRAY AS AUTHORIZATION BETWEEN BIGINT BINARY BOOLEAN BOTH BY CASE CASHE CAST CHAR
COLUMN CONF CONSTRAINT COMMIT CREATE CROSS CUBE CURRENT CURRENT_DATE CURRENT_TIMESTAMP CURSOR
DATABASE DATE DAYOFWEEK DECIMAL DELETE DESCRIBE DISTINCT DIV DOUBLE DROP ELSE END EXCHANGE
EXISTS EXTENDED EXTERNAL EXTRACT FALSE FETCH FLOAT FLOOR FOLLOWING FOR FOREIGN FROM FULL
FUNCTION GRANT GROUP GROUPING HAVING IF IMPORT IN INNER INSERT INT INTEGER INTERSECT INTERVAL
INTO IS JOIN LATERAL LEFT LESS LIKE LOCAL MACRO MAP MORE NONE NOT NULL NUMERIC OF ON ONLY OR
ORDER OUT OUTER OVER PARTIALSCAN PARTITION PERCENT PRECEDING PRECISION PRESERVE PRIMARY
PROCEDURE RANGE READS REDUCE REGEXP REFERENCES REVOKE RIGHT RLIKE ROLLBACK ROLLUP ROW ROWS
SELECT SET SMALLINT START TABLE TABLESAMPLE THEN TIME TIMESTAMP TO TRANSFORM TRIGGER TRUE
TRUNCATE UNBOUNDED UNION UNIQUEJOIN UPDATE USER USING UTC_TIMESTAMP VALUES VARCHAR VIEW WHEN
WHERE WINDOW WITH
""".split())

SELECT_RESERVED = set("""
ALTER AND AS BETWEEN BY CASE CAST CONSTRAINT CREATE CROSS CUBE CURRENT_CATALOG CURRENT_DATE
CURRENT_PATH CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DEALLOCATE
DELETE DESCRIBE DISTINCT DROP ELSE END ESCAPE EXCEPT EXECUTE EXISTS EXTRACT FALSE FIRST FOR FROM
FULL GROUP GROUPING HAVING IN INNER INSERT INTERSECT INTO IS JOIN JSON_ARRAY JSON_EXISTS
JSON_OBJECT JSON_QUERY JSON_TABLE JSON_VALUE LAST LEFT LIKE LISTAGG LOCALTIME LOCALTIMESTAMP
NATURAL NORMALIZE NOT NULL OF ON OR ORDER OUTER PREPARE RECURSIVE RIGHT ROLLUP SELECT SKIP TABLE
THEN TRIM TRUE UESCAPE UNION UNNEST USING VALUES WHEN WHERE WITH
""".split()) | {"TIME", "TIMESTAMP"}  # type names: quoted in queries too, to be unambiguous

DUCKDB_TYPES = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT",
                "boolean": "BOOLEAN", "array<string>": "VARCHAR[]"}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message)


def sql_blocks(markdown):
    return [block.strip() for block in re.findall(r"```sql\n(.*?)```", markdown, re.S)]


def check_ddl(statement):
    """Parses the DDL; returns (table, [(column, json field, type)]) and checks reserved words."""
    head, _, rest = statement.partition("(")
    table = head.split()[-1]
    body = rest[: rest.index("\n)")]
    mappings = dict(re.findall(r"'mapping\.(\w+)' = '(\w+)'", statement))
    columns = []
    for line in body.splitlines():
        line = line.strip().rstrip(",")
        if not line:
            continue
        name, kind = line.split(" ", 1)
        quoted = name.startswith("`")
        bare = name.strip("`")
        if bare.upper() in DDL_RESERVED and not quoted:
            fail(f"{table}: column {bare} is an Athena DDL reserved word and is not backquoted")
        columns.append((bare, mappings.get(bare, bare), kind))
    partition = re.search(r"PARTITIONED BY \((`?)(\w+)`? string\)", statement)
    if partition and partition.group(2).upper() in DDL_RESERVED and not partition.group(1):
        fail(f"{table}: partition column {partition.group(2)} is reserved and not backquoted")
    try:
        sqlglot.parse_one(statement, read="athena")
    except sqlglot.errors.ParseError as error:
        fail(f"{table}: the DDL does not parse as Athena: {error}")
    return table, columns


def check_query(query):
    if "`" in query:
        fail(f"a query quotes with backticks, which Athena's SQL engine rejects:\n{query}")
    try:
        tree = sqlglot.parse_one(query, read="athena")
    except sqlglot.errors.ParseError as error:
        fail(f"a query does not parse as Athena: {error}\n{query}")
        return None
    for column in tree.find_all(exp.Column):
        identifier = column.this
        if isinstance(identifier, exp.Identifier) and not identifier.quoted \
                and identifier.name.upper() in SELECT_RESERVED:
            fail(f"a query uses the reserved word {identifier.name} unquoted:\n{query}")
    return tree


def load_records(con, directory, table, columns):
    files = sorted(path for path in glob.glob(os.path.join(directory, "*/*/*/*.json")))
    if not files:
        fail(f"no records under {directory}")
    rows = []
    for path in files:
        record = json.load(open(path))
        check_hash(path, record)
        partition = "/".join(path.split(os.sep)[-4:-1])
        rows.append([record.get(field) for _, field, _ in columns] + [partition])
    definition = ", ".join(f'"{name}" {DUCKDB_TYPES[kind]}' for name, _, kind in columns)
    con.execute(f'CREATE TABLE {table} ({definition}, "timestamp" VARCHAR)')
    placeholders = ", ".join("?" for _ in range(len(columns) + 1))
    con.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)
    return len(files)


def check_hash(path, record):
    """docs/reference.md section 7: SHA-256 of the RFC 8785 form without `hash`."""
    if "hash" not in record:
        fail(f"{path} is not chained")
        return
    claimed = record.pop("hash")
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if hashlib.sha256(canonical.encode()).hexdigest() != claimed:
        fail(f"{path}: its hash is not the documented canonical hash")


def main():
    markdown_path, records = sys.argv[1], sys.argv[2]
    blocks = sql_blocks(open(markdown_path).read())
    ddl = [block for block in blocks if block.startswith("CREATE EXTERNAL TABLE")]
    queries = [block for block in blocks if not block.startswith("CREATE")]
    if len(ddl) != 2 or len(queries) < 4:
        fail(f"expected 2 tables and the example queries, found {len(ddl)} and {len(queries)}")
    con = duckdb.connect()
    tables = [check_ddl(statement) for statement in ddl]
    count = 0
    for table, columns in tables:
        count = load_records(con, records, table, columns)
    for query in queries:
        if check_query(query) is None:
            continue
        duck = sqlglot.transpile(query, read="athena", write="duckdb")[0]
        try:
            con.execute(duck).fetchall()
        except duckdb.Error as error:
            fail(f"a query fails on DuckDB: {error}\n{duck}")
    # The chain of the real records is complete: the holes query answers nothing.
    holes = sqlglot.transpile(queries[-1], read="athena", write="duckdb")[0]
    if "lag(seq)" in queries[-1] and con.execute(holes).fetchall():
        fail("the demo's records have holes in their chain")
    if failures:
        sys.exit(1)
    print(f"docs/athena.md: {len(ddl)} tables and {len(queries)} queries parse as Athena, "
          f"avoid reserved words and run on DuckDB over {count} records")


main()
