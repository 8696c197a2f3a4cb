-- 04_scd.sql: the streams, the change view and the task graph that keep CUSTOMER (SCD1) and
-- CUSTOMER_HISTORY (SCD2) up to date.
--   snow sql -f sql/04_scd.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW -D warehouse=PIPELINE_WH \
--       -D schedule='1 MINUTE'
-- Safe to re-run: streams are kept (replacing one would lose its pending changes); the tasks
-- are replaced in the order Snowflake allows: "The root task must be suspended before any task is
-- recreated" (https://docs.snowflake.com/en/sql-reference/sql/create-task), and "Before resuming
-- the root task of your Task Graph, resume all child tasks"
-- (https://docs.snowflake.com/en/sql-reference/sql/alter-task). Replacing a task drops its
-- grants: run 06_grants.sql after this script. Each task body sits between `-- task:<NAME>
-- begin` and `-- task:<NAME> end`, for the tests that read it.

USE SCHEMA <% database %>.<% schema %>;

-- Append-only: RAW only ever receives inserts; the MERGE that reads the stream consumes it in
-- its own transaction, so rows loaded meanwhile wait for the next run (no TRUNCATE race).
CREATE STREAM IF NOT EXISTS CUSTOMER_RAW_CHANGES
ON TABLE CUSTOMER_RAW
APPEND_ONLY = TRUE
COMMENT = 'New CUSTOMER_RAW rows not yet merged into CUSTOMER.';

CREATE STREAM IF NOT EXISTS CUSTOMER_CHANGES
ON TABLE CUSTOMER
COMMENT = 'Changes to CUSTOMER not yet applied to CUSTOMER_HISTORY.';

-- What CUSTOMER_HISTORY must do for each changed customer, compared with its current version
-- (not with the stream's before-image: SCD1 also advances UPDATED_AT for upserts that change
-- no attribute, and those must not make a version):
--   CLOSE    end the current version at the change's UPDATED_AT (a change or a delete);
--   OPEN     start a new current version at the change's UPDATED_AT;
--   REPLACE  a change with the same UPDATED_AT as the current version corrects it in place
--            (closing and opening at one instant would collide on the key).
-- Attributes are compared null-safely (IS DISTINCT FROM).
CREATE OR REPLACE VIEW V_CUSTOMER_CHANGE_DATA
COMMENT = 'Pending SCD2 actions (CLOSE, OPEN, REPLACE) derived from CUSTOMER_CHANGES.'
AS
WITH changed AS (
    SELECT
        c.CUSTOMER_ID,
        c.FIRST_NAME,
        c.LAST_NAME,
        c.EMAIL,
        c.STREET,
        c.CITY,
        c.STATE,
        c.COUNTRY,
        c.UPDATED_AT,
        c.IS_DELETED,
        h.START_TIME AS CURRENT_START_TIME,
        h.CUSTOMER_ID IS NOT NULL AS HAS_CURRENT,
        NOT c.IS_DELETED
        AND (
            h.CUSTOMER_ID IS NULL
            OR c.FIRST_NAME IS DISTINCT FROM h.FIRST_NAME
            OR c.LAST_NAME IS DISTINCT FROM h.LAST_NAME
            OR c.EMAIL IS DISTINCT FROM h.EMAIL
            OR c.STREET IS DISTINCT FROM h.STREET
            OR c.CITY IS DISTINCT FROM h.CITY
            OR c.STATE IS DISTINCT FROM h.STATE
            OR c.COUNTRY IS DISTINCT FROM h.COUNTRY
        ) AS NEEDS_VERSION
    FROM CUSTOMER_CHANGES AS c
    LEFT JOIN CUSTOMER_HISTORY AS h
        ON c.CUSTOMER_ID = h.CUSTOMER_ID AND h.IS_CURRENT
    WHERE c.METADATA$ACTION = 'INSERT'
)

SELECT
    CUSTOMER_ID,
    CURRENT_START_TIME AS START_TIME,
    UPDATED_AT AS END_TIME,
    'CLOSE' AS DML_TYPE,
    CAST(NULL AS VARCHAR(256)) AS FIRST_NAME,
    CAST(NULL AS VARCHAR(256)) AS LAST_NAME,
    CAST(NULL AS VARCHAR(254)) AS EMAIL,
    CAST(NULL AS VARCHAR(256)) AS STREET,
    CAST(NULL AS VARCHAR(256)) AS CITY,
    CAST(NULL AS VARCHAR(256)) AS STATE,
    CAST(NULL AS VARCHAR(256)) AS COUNTRY
FROM changed
WHERE
    HAS_CURRENT
    AND (IS_DELETED OR NEEDS_VERSION)
    AND NOT (NEEDS_VERSION AND CURRENT_START_TIME = UPDATED_AT)

UNION ALL

SELECT
    CUSTOMER_ID,
    CURRENT_START_TIME AS START_TIME,
    CAST(NULL AS TIMESTAMP_NTZ(9)) AS END_TIME,
    'REPLACE' AS DML_TYPE,
    FIRST_NAME,
    LAST_NAME,
    EMAIL,
    STREET,
    CITY,
    STATE,
    COUNTRY
FROM changed
WHERE HAS_CURRENT AND NEEDS_VERSION AND CURRENT_START_TIME = UPDATED_AT

UNION ALL

SELECT
    CUSTOMER_ID,
    UPDATED_AT AS START_TIME,
    CAST(NULL AS TIMESTAMP_NTZ(9)) AS END_TIME,
    'OPEN' AS DML_TYPE,
    FIRST_NAME,
    LAST_NAME,
    EMAIL,
    STREET,
    CITY,
    STATE,
    COUNTRY
FROM changed
WHERE NEEDS_VERSION AND NOT (HAS_CURRENT AND CURRENT_START_TIME = UPDATED_AT);

-- Tasks can only be changed while the graph's root is suspended.
ALTER TASK IF EXISTS TSK_SCD_RAW SUSPEND;

CREATE OR REPLACE TASK TSK_SCD_RAW
    WAREHOUSE = <% warehouse %>
    SCHEDULE = '<% schedule %>'
    COMMENT = 'SCD1: merges new CUSTOMER_RAW rows into CUSTOMER, newest version per customer wins.'
WHEN SYSTEM$STREAM_HAS_DATA('CUSTOMER_RAW_CHANGES')
AS
-- task:TSK_SCD_RAW begin
-- One row per customer from this batch: the newest by (UPDATED_AT, file name, row number).
-- IS_NEWER: whether it is newer than what CUSTOMER holds, by the same ordering. Only newer rows
-- are applied, so the result does not depend on the order files arrive in or on how loads are
-- batched between runs.
    MERGE INTO CUSTOMER AS tgt
    USING (
        SELECT
            r.CUSTOMER_ID,
            r.FIRST_NAME,
            r.LAST_NAME,
            r.EMAIL,
            r.STREET,
            r.CITY,
            r.STATE,
            r.COUNTRY,
            r.UPDATED_AT,
            r.OP,
            r._FILE_NAME,
            r._FILE_ROW_NUMBER,
            (
                c.CUSTOMER_ID IS NULL
                OR r.UPDATED_AT > c.UPDATED_AT
                OR (r.UPDATED_AT = c.UPDATED_AT AND r._FILE_NAME > c._FILE_NAME)
                OR (
                    r.UPDATED_AT = c.UPDATED_AT
                    AND r._FILE_NAME = c._FILE_NAME
                    AND r._FILE_ROW_NUMBER > c._FILE_ROW_NUMBER
                )
            ) AS IS_NEWER
        FROM (
            SELECT
                CUSTOMER_ID,
                FIRST_NAME,
                LAST_NAME,
                EMAIL,
                STREET,
                CITY,
                STATE,
                COUNTRY,
                UPDATED_AT,
                OP,
                _FILE_NAME,
                _FILE_ROW_NUMBER
            FROM CUSTOMER_RAW_CHANGES
            QUALIFY
                ROW_NUMBER() OVER (
                    PARTITION BY CUSTOMER_ID
                    ORDER BY UPDATED_AT DESC, _FILE_NAME DESC, _FILE_ROW_NUMBER DESC
                ) = 1
        ) AS r
        LEFT JOIN CUSTOMER AS c ON r.CUSTOMER_ID = c.CUSTOMER_ID
    ) AS src
        ON tgt.CUSTOMER_ID = src.CUSTOMER_ID
    -- A newer delete: tombstone (attributes kept, UPDATED_AT = the delete's time).
    WHEN MATCHED AND src.IS_NEWER AND src.OP = 'D'
    THEN
        UPDATE SET
            IS_DELETED = TRUE,
            UPDATED_AT = src.UPDATED_AT,
            _FILE_NAME = src._FILE_NAME,
            _FILE_ROW_NUMBER = src._FILE_ROW_NUMBER,
            _MERGED_AT = SYSDATE()
    -- A newer upsert: its values (reviving a deleted customer). The ordering columns advance even
    -- when no attribute changed, so a late, older file is still recognised as older.
    WHEN MATCHED AND src.IS_NEWER AND src.OP = 'U'
    THEN
        UPDATE SET
            FIRST_NAME = src.FIRST_NAME,
            LAST_NAME = src.LAST_NAME,
            EMAIL = src.EMAIL,
            STREET = src.STREET,
            CITY = src.CITY,
            STATE = src.STATE,
            COUNTRY = src.COUNTRY,
            UPDATED_AT = src.UPDATED_AT,
            IS_DELETED = FALSE,
            _FILE_NAME = src._FILE_NAME,
            _FILE_ROW_NUMBER = src._FILE_ROW_NUMBER,
            _MERGED_AT = SYSDATE()
    -- A new id; a delete of an unknown id becomes a tombstone, so an older upsert arriving later
    -- cannot create the customer.
    WHEN NOT MATCHED
    THEN INSERT (
        CUSTOMER_ID,
        FIRST_NAME,
        LAST_NAME,
        EMAIL,
        STREET,
        CITY,
        STATE,
        COUNTRY,
        UPDATED_AT,
        IS_DELETED,
        _FILE_NAME,
        _FILE_ROW_NUMBER,
        _MERGED_AT
    ) VALUES (
        src.CUSTOMER_ID,
        src.FIRST_NAME,
        src.LAST_NAME,
        src.EMAIL,
        src.STREET,
        src.CITY,
        src.STATE,
        src.COUNTRY,
        src.UPDATED_AT,
        src.OP = 'D',
        src._FILE_NAME,
        src._FILE_ROW_NUMBER,
        SYSDATE()
    );
-- task:TSK_SCD_RAW end

CREATE OR REPLACE TASK TSK_SCD_HIST
    WAREHOUSE = <% warehouse %>
    COMMENT = 'SCD2: applies the changes of CUSTOMER to CUSTOMER_HISTORY (closes, opens, corrects versions).'
    AFTER TSK_SCD_RAW
WHEN SYSTEM$STREAM_HAS_DATA('CUSTOMER_CHANGES')
AS
-- task:TSK_SCD_HIST begin
-- Keyed on (CUSTOMER_ID, START_TIME). Per customer the view yields at most one CLOSE or REPLACE
-- (for the current version) and one OPEN (for a new start time), so no target row matches two
-- source rows. An OPEN whose key exists (a version closed at its own start instant, then
-- revived at that instant) reopens it.
    MERGE INTO CUSTOMER_HISTORY AS h
    USING V_CUSTOMER_CHANGE_DATA AS c
        ON h.CUSTOMER_ID = c.CUSTOMER_ID AND h.START_TIME = c.START_TIME
    WHEN MATCHED AND c.DML_TYPE = 'CLOSE'
    THEN
        UPDATE SET
            END_TIME = c.END_TIME,
            IS_CURRENT = FALSE
    WHEN MATCHED AND c.DML_TYPE IN ('REPLACE', 'OPEN')
    THEN
        UPDATE SET
            FIRST_NAME = c.FIRST_NAME,
            LAST_NAME = c.LAST_NAME,
            EMAIL = c.EMAIL,
            STREET = c.STREET,
            CITY = c.CITY,
            STATE = c.STATE,
            COUNTRY = c.COUNTRY,
            END_TIME = CAST('9999-12-31 00:00:00' AS TIMESTAMP_NTZ(9)),
            IS_CURRENT = TRUE
    WHEN NOT MATCHED AND c.DML_TYPE = 'OPEN'
    THEN INSERT (
        CUSTOMER_ID,
        FIRST_NAME,
        LAST_NAME,
        EMAIL,
        STREET,
        CITY,
        STATE,
        COUNTRY,
        START_TIME,
        END_TIME,
        IS_CURRENT
    ) VALUES (
        c.CUSTOMER_ID,
        c.FIRST_NAME,
        c.LAST_NAME,
        c.EMAIL,
        c.STREET,
        c.CITY,
        c.STATE,
        c.COUNTRY,
        c.START_TIME,
        CAST('9999-12-31 00:00:00' AS TIMESTAMP_NTZ(9)),
        TRUE
    );
-- task:TSK_SCD_HIST end

-- Children first, then the root: resuming the root starts the schedule.
ALTER TASK TSK_SCD_HIST RESUME;
ALTER TASK TSK_SCD_RAW RESUME;
