-- 02_tables.sql: the landing table, the SCD1 table and its live view, the SCD2 history.
--   snow sql -f sql/02_tables.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW
-- Timestamps are TIMESTAMP_NTZ holding UTC (the files' updated_at ends in Z), except _LOADED_AT,
-- an instant (TIMESTAMP_LTZ) as the pipe takes it from METADATA$START_SCAN_TIME; ids are
-- NUMBER(38,0). The column lists follow the CSV contract (crates/pipeline/src/contract.rs); a
-- test checks that they agree.

USE SCHEMA <% database %>.<% schema %>;

CREATE TABLE IF NOT EXISTS CUSTOMER_RAW (
    CUSTOMER_ID NUMBER(38, 0) NOT NULL,
    FIRST_NAME VARCHAR(256),
    LAST_NAME VARCHAR(256),
    EMAIL VARCHAR(254),
    STREET VARCHAR(256),
    CITY VARCHAR(256),
    STATE VARCHAR(256),
    COUNTRY VARCHAR(256),
    UPDATED_AT TIMESTAMP_NTZ(9) NOT NULL,
    OP VARCHAR(1) NOT NULL,
    _FILE_NAME VARCHAR(1024) NOT NULL,
    _FILE_ROW_NUMBER NUMBER(38, 0) NOT NULL,
    _LOADED_AT TIMESTAMP_LTZ(9) NOT NULL
)
COMMENT = 'Every row of every loaded file, as loaded by CUSTOMER_PIPE; consumed through the append-only stream CUSTOMER_RAW_CHANGES, never truncated. _FILE_NAME and _FILE_ROW_NUMBER order versions with equal UPDATED_AT; _LOADED_AT is when the load scanned the file (METADATA$START_SCAN_TIME).';

CREATE TABLE IF NOT EXISTS CUSTOMER (
    CUSTOMER_ID NUMBER(38, 0) NOT NULL PRIMARY KEY,
    FIRST_NAME VARCHAR(256),
    LAST_NAME VARCHAR(256),
    EMAIL VARCHAR(254),
    STREET VARCHAR(256),
    CITY VARCHAR(256),
    STATE VARCHAR(256),
    COUNTRY VARCHAR(256),
    UPDATED_AT TIMESTAMP_NTZ(9) NOT NULL,
    IS_DELETED BOOLEAN NOT NULL DEFAULT FALSE,
    _FILE_NAME VARCHAR(1024) NOT NULL,
    _FILE_ROW_NUMBER NUMBER(38, 0) NOT NULL,
    _MERGED_AT TIMESTAMP_NTZ(9) NOT NULL DEFAULT SYSDATE(),
    _LOADED_AT TIMESTAMP_LTZ(9)
)
COMMENT = 'SCD1: one row per customer with the values of its newest loaded row by (UPDATED_AT, _FILE_NAME, _FILE_ROW_NUMBER, _LOADED_AT), whatever order files arrive in. A delete is a tombstone: IS_DELETED = TRUE and UPDATED_AT = the delete time, so an older upsert cannot resurrect the customer; a newer one revives it. Read CUSTOMER_CURRENT for live customers.';

-- COPY GRANTS: grants an operator gave on the view survive a re-run ("Retains the access
-- permissions from the original view when a new view is created using the OR REPLACE clause",
-- https://docs.snowflake.com/en/sql-reference/sql/create-view).
-- _LOADED_AT breaks the last tie of the ordering: the same key loaded again after Snowpipe's
-- 14-day load history forgot it (https://docs.snowflake.com/en/user-guide/data-load-snowpipe-intro)
-- can bring rows with equal (UPDATED_AT, _FILE_NAME, _FILE_ROW_NUMBER) and other values; the
-- later load wins in the task's MERGE and timeline alike (04_scd.sql). Added last, and NULL for rows merged before it existed
-- (older than any load), so a table from an earlier version is upgraded in place
-- (https://docs.snowflake.com/en/sql-reference/sql/alter-table: ADD [ COLUMN ] [ IF NOT EXISTS ]).
ALTER TABLE CUSTOMER ADD COLUMN IF NOT EXISTS _LOADED_AT TIMESTAMP_LTZ(9);

CREATE OR REPLACE VIEW CUSTOMER_CURRENT
COPY GRANTS
COMMENT = 'Live customers: CUSTOMER without tombstones.'
AS
SELECT
    CUSTOMER_ID,
    FIRST_NAME,
    LAST_NAME,
    EMAIL,
    STREET,
    CITY,
    STATE,
    COUNTRY,
    UPDATED_AT
FROM CUSTOMER
WHERE NOT IS_DELETED;

CREATE TABLE IF NOT EXISTS CUSTOMER_HISTORY (
    CUSTOMER_ID NUMBER(38, 0) NOT NULL,
    FIRST_NAME VARCHAR(256),
    LAST_NAME VARCHAR(256),
    EMAIL VARCHAR(254),
    STREET VARCHAR(256),
    CITY VARCHAR(256),
    STATE VARCHAR(256),
    COUNTRY VARCHAR(256),
    START_TIME TIMESTAMP_NTZ(9) NOT NULL,
    END_TIME TIMESTAMP_NTZ(9) NOT NULL,
    IS_CURRENT BOOLEAN NOT NULL,
    PRIMARY KEY (CUSTOMER_ID, START_TIME)
)
COMMENT = 'SCD2: the event-time timeline of every loaded row (rule in 04_scd.sql). START_TIME is the UPDATED_AT of the upsert that opened the version; a closed version ends at the next version''s START_TIME or at the delete''s UPDATED_AT; the open version has END_TIME 9999-12-31 and IS_CURRENT = TRUE; a deleted customer has none until revived. An upsert that changes no attribute makes no version; a late row takes its place in the timeline.';
