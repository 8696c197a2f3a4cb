-- 90_rebuild_history.sql: rebuilds CUSTOMER_HISTORY from every row in CUSTOMER_RAW (CUSTOMER is
-- merged from the same rows: a row newer than what it holds is applied, a hand-edited CUSTOMER
-- row is not repaired), once: after upgrading a stack whose history was kept by the old two-task
-- graph (one version per task run), or to recover from a manual edit. Idempotent: running it
-- again yields the same tables. Run as CUSTOMER_PIPELINE_ADMIN after 04_scd.sql, then
-- 06_grants.sql (the replaced stream loses the monitor's SELECT on it):
--   snow sql -f sql/90_rebuild_history.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW -D warehouse=PIPELINE_WH
--
-- How: the stream is replaced by one that shows every RAW row as new, "the first time the
-- stream is consumed, the stream returns all rows that exist in the source table"
-- (SHOW_INITIAL_ROWS, https://docs.snowflake.com/en/sql-reference/sql/create-stream), and this
-- script then runs the merge itself, in this session, by calling the procedure the task calls
-- (04_scd.sql). It does not wait for the triggered task: whether SYSTEM$STREAM_HAS_DATA, which
-- "performs a diff of the table version metadata" after the stream's offset
-- (https://docs.snowflake.com/en/sql-reference/functions/system_stream_has_data), reports a
-- fresh SHOW_INITIAL_ROWS stream as having data is not documented. The merge finds, for each
-- customer, no version before its earliest row, so it recomputes the whole timeline from RAW in
-- its one transaction: CUSTOMER and CUSTOMER_HISTORY agree at every commit, and nothing is lost
-- (rows loaded after the replace are changes of the new stream, merged by the task later). The
-- old stream's pending rows are RAW rows, so they are among the initial rows. The call reads all
-- of RAW: on a large table, give the warehouse room (docs/snowflake-setup.md). A failing call
-- stops the script with the task still suspended; fix the cause and run the script again.

USE SCHEMA <% database %>.<% schema %>;
USE WAREHOUSE <% warehouse %>;

-- The task must not run while its stream is replaced and the rebuild runs.
ALTER TASK TSK_SCD_RAW SUSPEND;

CREATE OR REPLACE STREAM CUSTOMER_RAW_CHANGES
ON TABLE CUSTOMER_RAW
APPEND_ONLY = TRUE
SHOW_INITIAL_ROWS = TRUE
COMMENT = 'New CUSTOMER_RAW rows not yet applied to CUSTOMER and CUSTOMER_HISTORY.';

CALL SP_APPLY_RAW_CHANGES();

-- The check: every customer whose rows have all been merged (none waits in the stream) holds
-- its newest RAW row in CUSTOMER, by the rule's ordering. Must be 0; anything else means the
-- rebuild did not cover every row, and the script should be run again.
SELECT COUNT(*) AS CUSTOMERS_NOT_REBUILT
FROM (
    SELECT
        CUSTOMER_ID,
        UPDATED_AT,
        _FILE_NAME,
        _FILE_ROW_NUMBER,
        _LOADED_AT
    FROM CUSTOMER_RAW
    WHERE CUSTOMER_ID NOT IN (SELECT w.CUSTOMER_ID FROM CUSTOMER_RAW_CHANGES AS w)
    QUALIFY
        ROW_NUMBER() OVER (
            PARTITION BY CUSTOMER_ID
            ORDER BY UPDATED_AT DESC, _FILE_NAME DESC, _FILE_ROW_NUMBER DESC, _LOADED_AT DESC
        ) = 1
) AS n
LEFT JOIN CUSTOMER AS c ON n.CUSTOMER_ID = c.CUSTOMER_ID
WHERE
    c.CUSTOMER_ID IS NULL
    OR c.UPDATED_AT != n.UPDATED_AT
    OR c._FILE_NAME != n._FILE_NAME
    OR c._FILE_ROW_NUMBER != n._FILE_ROW_NUMBER
    OR c._LOADED_AT IS DISTINCT FROM n._LOADED_AT;

ALTER TASK TSK_SCD_RAW RESUME;
