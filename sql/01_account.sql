-- 01_account.sql: warehouse, database, schema, roles, service users, storage integration.
-- Run as ACCOUNTADMIN (roles, users and integrations are account objects), by a user who also
-- holds SYSADMIN (for the warehouse, database and schema below; if USE ROLE SYSADMIN is refused,
-- GRANT ROLE SYSADMIN TO USER <you> first):
--   snow sql -f sql/01_account.sql --role ACCOUNTADMIN -D database=CUSTOMERS -D schema=RAW \
--       -D warehouse=PIPELINE_WH -D integration=CUSTOMER_S3 \
--       -D bucket_url=s3://my-landing-bucket/stream_data/ \
--       -D aws_role_arn=arn:aws:iam::123456789012:role/snowflake-customer-stage \
--       -D ingest_public_key=MIIBIjAN... -D monitor_public_key=MIIBIjAN... -D admin_user=<YOU>
-- admin_user is the person who runs 02–06 as CUSTOMER_PIPELINE_ADMIN: "The roles must be granted
-- to the user before they can be activated in a session"
-- (https://docs.snowflake.com/en/user-guide/security-access-control-overview).
-- DESC INTEGRATION <integration> then shows the IAM user ARN and external id that the AWS
-- role's trust policy must allow.
-- Idempotent: every object is created only if missing. The warehouse, database, schema and
-- storage integration may therefore exist already and serve other work: the pipeline adopts
-- them and 99_teardown.sql leaves them. What the pipeline owns, and teardown drops, is its roles
-- and users (CUSTOMER_PIPELINE_*) and the objects 02–05 create in the schema.

-- The warehouse, database and schema belong to SYSADMIN, the role that "includes the privileges
-- to create warehouses, databases, and all database objects", not to ACCOUNTADMIN, the account's
-- most powerful role, which the best practices keep for account-level administration
-- (https://docs.snowflake.com/en/user-guide/security-access-control-considerations). SYSADMIN
-- is a child of ACCOUNTADMIN ("the other administrator roles are children of this role", same
-- page), so ACCOUNTADMIN still grants on them below.
USE ROLE SYSADMIN;

CREATE WAREHOUSE IF NOT EXISTS <% warehouse %>
WAREHOUSE_SIZE = XSMALL
AUTO_SUSPEND = 60
AUTO_RESUME = TRUE
INITIALLY_SUSPENDED = TRUE
COMMENT = 'Runs the customer pipeline tasks and the monitor queries.';

CREATE DATABASE IF NOT EXISTS <% database %>
COMMENT = 'Customer pipeline: raw loads, SCD1 and SCD2 tables.';

CREATE SCHEMA IF NOT EXISTS <% database %>.<% schema %>
COMMENT = 'Customer pipeline objects.';

-- Roles, users, grants and the integration are account-level: back to ACCOUNTADMIN.
USE ROLE ACCOUNTADMIN;

-- Owns the tables, pipe, streams and tasks, and runs the tasks.
CREATE ROLE IF NOT EXISTS CUSTOMER_PIPELINE_ADMIN
COMMENT = 'Owns and runs the customer pipeline objects.';
-- Used by the ingest function (Snowpipe REST): submits files to the pipe, nothing else.
CREATE ROLE IF NOT EXISTS CUSTOMER_PIPELINE_INGEST
COMMENT = 'Snowpipe REST caller: OPERATE and MONITOR on the pipe.';
-- Used by the monitor function (SQL API): reads task, load and pipe history, never customer rows.
-- Its reconciliation only announces files on the ingest queue; the monitor user holds no role
-- that can read or load CUSTOMER_RAW: secondary roles would lend one to every session
-- ("USE SECONDARY ROLES ALL", https://docs.snowflake.com/en/sql-reference/sql/use-secondary-roles).
CREATE ROLE IF NOT EXISTS CUSTOMER_PIPELINE_MONITOR
COMMENT = 'Reads task, copy and pipe history.';

-- "By default, a newly-created role is not assigned to any user, nor granted to any other
-- role", and "Snowflake recommends creating a hierarchy of custom roles, with the top-most
-- custom role assigned to the system role SYSADMIN"
-- (https://docs.snowflake.com/en/user-guide/security-access-control-overview). Without this,
-- not even ACCOUNTADMIN can drop what CUSTOMER_PIPELINE_ADMIN owns (99_teardown.sql): "By
-- default, not even the ACCOUNTADMIN role can modify or drop objects created by a custom role"
-- (https://docs.snowflake.com/en/user-guide/security-access-control-considerations).
GRANT ROLE CUSTOMER_PIPELINE_ADMIN TO ROLE SYSADMIN;
GRANT ROLE CUSTOMER_PIPELINE_INGEST TO ROLE SYSADMIN;
GRANT ROLE CUSTOMER_PIPELINE_MONITOR TO ROLE SYSADMIN;
-- The person who runs 02–06 with --role CUSTOMER_PIPELINE_ADMIN.
GRANT ROLE CUSTOMER_PIPELINE_ADMIN TO USER <% admin_user %>;

GRANT USAGE ON WAREHOUSE <% warehouse %> TO ROLE CUSTOMER_PIPELINE_ADMIN;
GRANT USAGE ON DATABASE <% database %> TO ROLE CUSTOMER_PIPELINE_ADMIN;
-- USAGE and the CREATE privileges 02–05 use, not ALL, which would add every other CREATE
-- (secrets, …), MODIFY and MONITOR
-- (https://docs.snowflake.com/en/user-guide/security-access-control-privileges).
-- CREATE PROCEDURE: "Required to create a permanent stored procedure"
-- (https://docs.snowflake.com/en/sql-reference/sql/create-procedure), for the merge (04).
GRANT USAGE, CREATE TABLE, CREATE VIEW, CREATE FILE FORMAT, CREATE STAGE, CREATE PIPE, CREATE STREAM, CREATE TASK,
CREATE PROCEDURE
ON SCHEMA <% database %>.<% schema %> TO ROLE CUSTOMER_PIPELINE_ADMIN;
GRANT USAGE ON DATABASE <% database %> TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT USAGE ON SCHEMA <% database %>.<% schema %> TO ROLE CUSTOMER_PIPELINE_INGEST;
GRANT USAGE ON DATABASE <% database %> TO ROLE CUSTOMER_PIPELINE_MONITOR;
GRANT USAGE ON SCHEMA <% database %>.<% schema %> TO ROLE CUSTOMER_PIPELINE_MONITOR;
-- The monitor runs its SQL API queries on the warehouse; it reads nothing of the warehouse's own
-- state, so no MONITOR on it.
GRANT USAGE ON WAREHOUSE <% warehouse %> TO ROLE CUSTOMER_PIPELINE_MONITOR;
-- Tasks run with their owner's privileges and need EXECUTE TASK on the account.
GRANT EXECUTE TASK ON ACCOUNT TO ROLE CUSTOMER_PIPELINE_ADMIN;

CREATE STORAGE INTEGRATION IF NOT EXISTS <% integration %>
TYPE = EXTERNAL_STAGE
STORAGE_PROVIDER = 'S3'
ENABLED = TRUE
STORAGE_AWS_ROLE_ARN = '<% aws_role_arn %>'
STORAGE_ALLOWED_LOCATIONS = ('<% bucket_url %>')
COMMENT = 'Read access to the customer landing prefix.';

GRANT USAGE ON INTEGRATION <% integration %> TO ROLE CUSTOMER_PIPELINE_ADMIN;

-- Service users authenticate with key pairs only (no password). Snowpipe REST takes no role: it
-- authorises the user's default role ("The user should be created with this role as its default
-- role", https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-gs), and "specifying a
-- default role for a user does not grant the role to the user"
-- (https://docs.snowflake.com/en/sql-reference/sql/create-user), hence the GRANTs below.
-- Each user holds one role, so no session can borrow another's privileges as a secondary role;
-- DEFAULT_SECONDARY_ROLES = () says so too (unset it means ('ALL'),
-- https://docs.snowflake.com/en/release-notes/bcr-bundles/2024_08/bcr-1692).
CREATE USER IF NOT EXISTS CUSTOMER_PIPELINE_INGEST_USER
    TYPE = SERVICE
    DEFAULT_ROLE = CUSTOMER_PIPELINE_INGEST
    DEFAULT_SECONDARY_ROLES = ()
    COMMENT = 'The ingest Lambda function (Snowpipe REST, key-pair JWT).';
CREATE USER IF NOT EXISTS CUSTOMER_PIPELINE_MONITOR_USER
    TYPE = SERVICE
    DEFAULT_ROLE = CUSTOMER_PIPELINE_MONITOR
    DEFAULT_SECONDARY_ROLES = ()
    DEFAULT_WAREHOUSE = <% warehouse %>
    COMMENT = 'The monitor Lambda function (SQL API v2, key-pair JWT).';
GRANT ROLE CUSTOMER_PIPELINE_INGEST TO USER CUSTOMER_PIPELINE_INGEST_USER;
GRANT ROLE CUSTOMER_PIPELINE_MONITOR TO USER CUSTOMER_PIPELINE_MONITOR_USER;

-- Register each function's public key: the body of the PEM public key, without the BEGIN/END
-- lines and line breaks. For a key pair made with
--   openssl genrsa 2048 | openssl pkcs8 -topk8 -inform PEM -out rsa_key.p8 -nocrypt
--   openssl rsa -in rsa_key.p8 -pubout -out rsa_key.pub
-- the value is: grep -v '^-----' rsa_key.pub | tr -d '\n', or what `pipectl key` prints.
-- DESCRIBE USER then shows RSA_PUBLIC_KEY_FP, which must equal the fingerprint the client logs.
ALTER USER CUSTOMER_PIPELINE_INGEST_USER SET RSA_PUBLIC_KEY = '<% ingest_public_key %>';
ALTER USER CUSTOMER_PIPELINE_MONITOR_USER SET RSA_PUBLIC_KEY = '<% monitor_public_key %>';
