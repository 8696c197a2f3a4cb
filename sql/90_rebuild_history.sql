-- 90_rebuild_history.sql: rebuilds CUSTOMER_HISTORY from every row in CUSTOMER_RAW (CUSTOMER is
-- merged from the same rows: a row newer than what it holds is applied, a hand-edited CUSTOMER
-- row is not repaired), once: after upgrading a stack whose history was kept by the old two-task graph
-- (one version per task run), or to recover from a manual edit. Idempotent: running it again
-- yields the same tables. Run as CUSTOMER_PIPELINE_ADMIN after 04_scd.sql, then 06_grants.sql
-- (the replaced stream loses its grants):
--   snow sql -f sql/90_rebuild_history.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW
--
-- How: the stream is replaced by one that shows every RAW row as new, "the first time the
-- stream is consumed, the stream returns all rows that exist in the source table"
-- (SHOW_INITIAL_ROWS, https://docs.snowflake.com/en/sql-reference/sql/create-stream). The
-- next task run then finds, for each customer, no version before its earliest row, so it
-- recomputes the whole timeline from RAW in its one transaction: CUSTOMER and
-- CUSTOMER_HISTORY agree at every commit, and nothing is lost (rows loaded after the replace
-- are changes of the new stream). The old stream's pending rows are RAW rows, so they are
-- among the initial rows. That one run reads all of RAW: on a large table, give the warehouse
-- room (docs/snowflake-setup.md); until it commits, the merge-lag view counts every RAW row as
-- waiting, so the MergeLag alarm may fire during a long rebuild.

USE SCHEMA <% database %>.<% schema %>;

-- The task must not run while its stream is replaced.
ALTER TASK TSK_SCD_RAW SUSPEND;

CREATE OR REPLACE STREAM CUSTOMER_RAW_CHANGES
ON TABLE CUSTOMER_RAW
APPEND_ONLY = TRUE
SHOW_INITIAL_ROWS = TRUE
COMMENT = 'New CUSTOMER_RAW rows not yet applied to CUSTOMER and CUSTOMER_HISTORY.';

-- The stream now has data, so the triggered task runs within its trigger interval and rebuilds.
ALTER TASK TSK_SCD_RAW RESUME;
