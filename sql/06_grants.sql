-- 06_grants.sql: least privilege for the two service roles on the pipeline's objects. Run as
-- CUSTOMER_PIPELINE_ADMIN after 04_scd.sql (replacing a task drops its grants):
--   snow sql -f sql/06_grants.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW

USE SCHEMA <% database %>.<% schema %>;

-- Ingest (Snowpipe REST): the user's default role is what Snowpipe authorises; without these a
-- call answers 404 ("pipe not found").
GRANT USAGE ON STAGE CUSTOMER_STAGE TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT INSERT, SELECT ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT OPERATE, MONITOR ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_INGEST;

-- Monitor (SQL API): task and pipe state and history; COPY_HISTORY needs a privilege on the
-- target table, SELECT being the least.
GRANT MONITOR ON TASK TSK_SCD_RAW TO ROLE CUSTOMER_PIPELINE_MONITOR;
GRANT MONITOR ON TASK TSK_SCD_HIST TO ROLE CUSTOMER_PIPELINE_MONITOR;
GRANT MONITOR ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_MONITOR;
GRANT SELECT ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_MONITOR;
GRANT SELECT ON VIEW PIPELINE_OBJECTS TO ROLE CUSTOMER_PIPELINE_MONITOR;

-- Reconciliation (RECONCILE=true, the default) lets the monitor submit stage files nothing has
-- loaded: the pipe privileges the ingest role has. Snowpipe authorises the user's default role.
GRANT USAGE ON STAGE CUSTOMER_STAGE TO ROLE CUSTOMER_PIPELINE_MONITOR;
GRANT INSERT ON TABLE CUSTOMER_RAW TO ROLE CUSTOMER_PIPELINE_MONITOR;
GRANT OPERATE ON PIPE CUSTOMER_PIPE TO ROLE CUSTOMER_PIPELINE_MONITOR;
