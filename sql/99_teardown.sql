-- 99_teardown.sql: removes the pipeline's objects, data included. Run as ACCOUNTADMIN:
--   snow sql -f sql/99_teardown.sql --role ACCOUNTADMIN -D database=CUSTOMERS -D schema=RAW \
--       -D warehouse=PIPELINE_WH -D integration=CUSTOMER_S3
-- The landing bucket is not touched. ACCOUNTADMIN may drop what CUSTOMER_PIPELINE_ADMIN owns
-- because 01_account.sql grants that role to SYSADMIN.

ALTER TASK IF EXISTS <% database %>.<% schema %>.TSK_SCD_RAW SUSPEND;
DROP TASK IF EXISTS <% database %>.<% schema %>.TSK_SCD_RAW;
DROP PIPE IF EXISTS <% database %>.<% schema %>.CUSTOMER_PIPE;
DROP SCHEMA IF EXISTS <% database %>.<% schema %> CASCADE;
DROP USER IF EXISTS CUSTOMER_PIPELINE_INGEST_USER;
DROP USER IF EXISTS CUSTOMER_PIPELINE_MONITOR_USER;
DROP ROLE IF EXISTS CUSTOMER_PIPELINE_INGEST;
DROP ROLE IF EXISTS CUSTOMER_PIPELINE_MONITOR;
DROP ROLE IF EXISTS CUSTOMER_PIPELINE_ADMIN;
DROP INTEGRATION IF EXISTS <% integration %>;
DROP WAREHOUSE IF EXISTS <% warehouse %>;
