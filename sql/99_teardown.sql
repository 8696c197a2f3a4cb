-- 99_teardown.sql: removes what the pipeline owns, data included. Run as ACCOUNTADMIN:
--   snow sql -f sql/99_teardown.sql --role ACCOUNTADMIN -D database=CUSTOMERS -D schema=RAW
-- The landing bucket is not touched. ACCOUNTADMIN may drop what CUSTOMER_PIPELINE_ADMIN owns
-- because 01_account.sql grants that role to SYSADMIN.
--
-- What the pipeline owns, and so what this script drops: the objects 02–05 create by name in the
-- schema, and the roles and users 01 creates (all named CUSTOMER_PIPELINE_*). What it leaves:
-- the warehouse, the database, the schema and the storage integration. 01 creates those only if
-- missing ("IF NOT EXISTS"), so they may have existed before and hold other work; and the schema
-- is not dropped with CASCADE, which "drops the schema and all objects in the schema"
-- (https://docs.snowflake.com/en/sql-reference/sql/drop-schema), whoever made them. If they were
-- made for the pipeline alone, drop them by hand (docs/snowflake-setup.md, "Teardown").

ALTER TASK IF EXISTS <% database %>.<% schema %>.TSK_SCD_RAW SUSPEND;
DROP TASK IF EXISTS <% database %>.<% schema %>.TSK_SCD_RAW;
DROP PROCEDURE IF EXISTS <% database %>.<% schema %>.SP_APPLY_RAW_CHANGES();
DROP PIPE IF EXISTS <% database %>.<% schema %>.CUSTOMER_PIPE;
DROP STREAM IF EXISTS <% database %>.<% schema %>.CUSTOMER_RAW_CHANGES;
DROP VIEW IF EXISTS <% database %>.<% schema %>.PIPELINE_MERGE_LAG;
DROP VIEW IF EXISTS <% database %>.<% schema %>.PIPELINE_OBJECTS;
DROP VIEW IF EXISTS <% database %>.<% schema %>.V_CUSTOMER_TIMELINE;
DROP VIEW IF EXISTS <% database %>.<% schema %>.CUSTOMER_CURRENT;
DROP TABLE IF EXISTS <% database %>.<% schema %>.CUSTOMER_SCD_WORK;
DROP TABLE IF EXISTS <% database %>.<% schema %>.CUSTOMER_HISTORY;
DROP TABLE IF EXISTS <% database %>.<% schema %>.CUSTOMER;
DROP TABLE IF EXISTS <% database %>.<% schema %>.CUSTOMER_RAW;
DROP STAGE IF EXISTS <% database %>.<% schema %>.CUSTOMER_STAGE;
DROP FILE FORMAT IF EXISTS <% database %>.<% schema %>.CUSTOMER_CSV;
DROP USER IF EXISTS CUSTOMER_PIPELINE_INGEST_USER;
DROP USER IF EXISTS CUSTOMER_PIPELINE_MONITOR_USER;
DROP ROLE IF EXISTS CUSTOMER_PIPELINE_INGEST;
DROP ROLE IF EXISTS CUSTOMER_PIPELINE_MONITOR;
DROP ROLE IF EXISTS CUSTOMER_PIPELINE_ADMIN;
