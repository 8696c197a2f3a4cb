-- 06_grants.sql: least privilege for the service roles on the pipeline's objects. Run as
-- CUSTOMER_PIPELINE_ADMIN after 02–05, and after 90_rebuild_history.sql (its replaced stream
-- loses its grants; re-running 02, 04 or 05 alone keeps them):
--   snow sql -f sql/06_grants.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW
-- `pipectl doctor` checks each user's grants against this file.

USE SCHEMA <% database %>.<% schema %>;

-- Ingest (Snowpipe REST), the ingest user's default role, held by no one else: `pipectl backfill`
-- also reads COPY_HISTORY, which needs a warehouse, so an operator runs it with a role of their
-- own (docs/pipectl.md). "Calling the Snowpipe REST endpoints
-- requires a role with the following minimum privileges": OPERATE on the pipe (insertFiles),
-- MONITOR (insertReport, loadHistoryScan), USAGE on the (external) stage, USAGE on a named file
-- format "only needed if either the stage or the pipe references a named file format" (both
-- name CUSTOMER_CSV, 03_ingest.sql), INSERT and SELECT on the target table
-- (https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-gs). A missing one answers
-- 404. The role has no warehouse, so it can run no query.
GRANT OPERATE ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT MONITOR ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT USAGE ON STAGE CUSTOMER_STAGE TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT USAGE ON FILE FORMAT CUSTOMER_CSV TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT INSERT ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT SELECT ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_INGEST;

-- Monitor (SQL API), no customer rows:
-- - TASK_HISTORY and SHOW TASKS answer for the owner or "a role with either the MONITOR or
--   OPERATE privilege on a task" (https://docs.snowflake.com/en/sql-reference/sql/show-tasks).
GRANT MONITOR ON TASK TSK_SCD_RAW TO ROLE CUSTOMER_PIPELINE_MONITOR;
-- - SYSTEM$PIPE_STATUS answers for the pipe owner or a role with MONITOR
--   (https://docs.snowflake.com/en/sql-reference/functions/system_pipe_status).
GRANT MONITOR ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_MONITOR;
-- - COPY_HISTORY needs "USAGE privilege on schema and database … and any privilege on table"
--   (https://docs.snowflake.com/en/sql-reference/functions/copy_history); REFERENCES "enables
--   viewing the structure of a table (but not the data)"
--   (https://docs.snowflake.com/en/user-guide/security-access-control-privileges).
GRANT REFERENCES ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_MONITOR;
-- - SHOW STREAMS lists a stream for SELECT on it (same page, stream privileges); reading one
--   also needs SELECT on its table, which this role does not have.
GRANT SELECT ON STREAM CUSTOMER_RAW_CHANGES TO ROLE CUSTOMER_PIPELINE_MONITOR;
-- - Merge lag: the age of the oldest loaded row not yet applied, through a view that shows no
--   customer data. A view runs with its owner's privileges, so SELECT on it is all this role
--   needs (https://docs.snowflake.com/en/user-guide/views-introduction; the view is in
--   05_monitoring.sql).
GRANT SELECT ON VIEW PIPELINE_MERGE_LAG TO ROLE CUSTOMER_PIPELINE_MONITOR;
