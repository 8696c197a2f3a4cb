-- 04_scd.sql: the stream, the working set, the timeline view, the merge procedure and the task
-- that keep CUSTOMER (SCD1) and CUSTOMER_HISTORY (SCD2) up to date from CUSTOMER_RAW.
--   snow sql -f sql/04_scd.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW -D warehouse=PIPELINE_WH
-- Safe to re-run alone, and the upgrade path from earlier versions (the two-task graph's
-- TSK_SCD_HIST and stream CUSTOMER_CHANGES are dropped): the stream on RAW is kept (replacing it
-- would lose its pending rows); the task is altered while suspended, keeping its grants (CREATE
-- OR ALTER TASK below), and resumed at the end. After upgrading a deployed stack, run
-- 90_rebuild_history.sql once (docs/snowflake-setup.md).
--
-- The rule CUSTOMER_HISTORY follows (docs/snowflake-setup.md, "SCD2: the timeline"): it is a
-- pure function of the rows in CUSTOMER_RAW. Per customer, rows are ordered by (UPDATED_AT,
-- _FILE_NAME, _FILE_ROW_NUMBER, _LOADED_AT) and at one UPDATED_AT the last row wins (_LOADED_AT
-- only separates a key loaded again after Snowpipe forgot it: 02_tables.sql). Walking that
-- order, an upsert that differs (null-safely) from the open version, or finds none, opens a
-- version at its UPDATED_AT
-- and closes the open one there; an equal upsert changes nothing; a delete closes the open
-- version. The open version ends 9999-12-31 with IS_CURRENT. So the result is the same whatever
-- order files arrive in, however loads are batched, and however often a run fails and retries.

USE SCHEMA <% database %>.<% schema %>;

-- Append-only: RAW only ever receives inserts. The task consumes it inside one explicit
-- transaction: "The stream position advances to the transaction start time if the transaction
-- commits; otherwise it stays at the same position", and "multiple SQL statements within a
-- transaction see the same set of records in a stream" (repeatable read)
-- (https://docs.snowflake.com/en/user-guide/streams-intro). Rows loaded meanwhile wait for the
-- next run. Kept fresh while idle: the task's WHEN calls SYSTEM$STREAM_HAS_DATA, which "prevents
-- it from becoming stale, provided the stream is empty and the SYSTEM$STREAM_HAS_DATA function
-- returns FALSE" (same page), and for a triggered task "If a task hasn't run for 12 hours,
-- Snowflake schedules a health check to prevent streams from becoming stale"
-- (https://docs.snowflake.com/en/user-guide/tasks-triggered). A non-empty stream is consumed by
-- the next run within the trigger interval.
CREATE STREAM IF NOT EXISTS CUSTOMER_RAW_CHANGES
ON TABLE CUSTOMER_RAW
APPEND_ONLY = TRUE
COMMENT = 'New CUSTOMER_RAW rows not yet applied to CUSTOMER and CUSTOMER_HISTORY.';

-- The previous design's second task and its stream on CUSTOMER (history per task run, which
-- lost versions). The root must be suspended before a task is dropped from its graph.
ALTER TASK IF EXISTS TSK_SCD_RAW SUSPEND;
DROP TASK IF EXISTS TSK_SCD_HIST;
DROP STREAM IF EXISTS CUSTOMER_CHANGES;
DROP VIEW IF EXISTS V_CUSTOMER_CHANGE_DATA;

-- The task's working set: filled, used and emptied inside each run's transaction, so it is
-- empty between runs, and replacing it here, with the task suspended, loses nothing (a run
-- still in flight fails on the replaced table, rolls back and is retried). A permanent-class
-- table, because creating a temporary one inside the transaction would commit it ("If a DDL
-- statement is executed while a transaction is active, the DDL statement … implicitly commits
-- the active transaction", https://docs.snowflake.com/en/sql-reference/transactions).
-- TRANSIENT with no Time Travel, because scratch rows need neither: "Transient tables can have
-- a Time Travel retention period of either 0 or 1 day" and have no Fail-safe
-- (https://docs.snowflake.com/en/user-guide/tables-temp-transient).
CREATE OR REPLACE TRANSIENT TABLE CUSTOMER_SCD_WORK (
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
    _LOADED_AT TIMESTAMP_LTZ(9) NOT NULL,
    FROM_TIME TIMESTAMP_NTZ(9) NOT NULL
)
DATA_RETENTION_TIME_IN_DAYS = 0
COMMENT = 'Working set of TSK_SCD_RAW: the CUSTOMER_RAW rows of the customers a run touches, from FROM_TIME (where their timeline is recomputed) on. Empty between runs.';

-- The versions of the customers in CUSTOMER_SCD_WORK, from each one's FROM_TIME on, by the
-- rule above. WHERE applies before the window functions of its SELECT, so LEAD in `versions`
-- finds the next opening upsert or delete: the instant the version ends. Constructs:
-- QUALIFY (https://docs.snowflake.com/en/sql-reference/constructs/qualify), LAG and LEAD
-- (https://docs.snowflake.com/en/sql-reference/functions/lag, …/functions/lead), and the
-- null-safe IS DISTINCT FROM (https://docs.snowflake.com/en/sql-reference/functions/is-distinct-from).
CREATE OR REPLACE VIEW V_CUSTOMER_TIMELINE
COPY GRANTS
COMMENT = 'CUSTOMER_HISTORY rows recomputed from the rows in CUSTOMER_SCD_WORK (the task''s working set).'
AS
WITH last_at_each_instant AS (
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
        OP
    FROM CUSTOMER_SCD_WORK
    QUALIFY
        ROW_NUMBER() OVER (
            PARTITION BY CUSTOMER_ID, UPDATED_AT
            ORDER BY _FILE_NAME DESC, _FILE_ROW_NUMBER DESC, _LOADED_AT DESC
        ) = 1
),

steps AS (
    SELECT
        *,
        LAG(OP) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_OP,
        LAG(FIRST_NAME) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_FIRST_NAME,
        LAG(LAST_NAME) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_LAST_NAME,
        LAG(EMAIL) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_EMAIL,
        LAG(STREET) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_STREET,
        LAG(CITY) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_CITY,
        LAG(STATE) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_STATE,
        LAG(COUNTRY) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS PREVIOUS_COUNTRY
    FROM last_at_each_instant
),

-- OPENS: an upsert after nothing, after a delete, or with other attributes than the upsert
-- before it (the open version holds the attributes of the last upsert).
changes AS (
    SELECT
        *,
        OP = 'U'
        AND (
            PREVIOUS_OP IS NULL
            OR PREVIOUS_OP = 'D'
            OR FIRST_NAME IS DISTINCT FROM PREVIOUS_FIRST_NAME
            OR LAST_NAME IS DISTINCT FROM PREVIOUS_LAST_NAME
            OR EMAIL IS DISTINCT FROM PREVIOUS_EMAIL
            OR STREET IS DISTINCT FROM PREVIOUS_STREET
            OR CITY IS DISTINCT FROM PREVIOUS_CITY
            OR STATE IS DISTINCT FROM PREVIOUS_STATE
            OR COUNTRY IS DISTINCT FROM PREVIOUS_COUNTRY
        ) AS OPENS
    FROM steps
),

versions AS (
    SELECT
        *,
        LEAD(UPDATED_AT) OVER (PARTITION BY CUSTOMER_ID ORDER BY UPDATED_AT) AS ENDS_AT
    FROM changes
    WHERE OPENS OR OP = 'D'
)

SELECT
    CUSTOMER_ID,
    FIRST_NAME,
    LAST_NAME,
    EMAIL,
    STREET,
    CITY,
    STATE,
    COUNTRY,
    UPDATED_AT AS START_TIME,
    COALESCE(ENDS_AT, CAST('9999-12-31 00:00:00' AS TIMESTAMP_NTZ(9))) AS END_TIME,
    ENDS_AT IS NULL AS IS_CURRENT
FROM versions
WHERE OPENS;

-- The merge: one Snowflake Scripting procedure, which the task calls and which
-- 90_rebuild_history.sql calls directly, so both run the same statements
-- (https://docs.snowflake.com/en/sql-reference/sql/create-procedure; a task body may be a "Call
-- to a stored procedure", https://docs.snowflake.com/en/sql-reference/sql/create-task). Owner's
-- rights (the default): it runs "with the privileges of the owner, not the privileges of the
-- caller" and uses "the database and schema that the stored procedure is created in"
-- (https://docs.snowflake.com/en/developer-guide/stored-procedure/stored-procedures-rights);
-- the names in it are qualified anyway. The block is in $$ … $$ so that clients split the
-- script at the right semicolons.
--
-- Its one transaction reads the stream, updates CUSTOMER and CUSTOMER_HISTORY, and commits both
-- with the stream's new offset, or nothing ("A transaction can be inside a stored procedure",
-- https://docs.snowflake.com/en/sql-reference/transactions). On an error the handler rolls back
-- explicitly and re-raises ("omit this argument" to raise the same exception again,
-- https://docs.snowflake.com/en/sql-reference/snowflake-scripting/raise), so the CALL fails, the
-- task run is FAILED in TASK_HISTORY and a later run retries the same rows. No DDL inside: "If a
-- DDL statement is executed while a transaction is active, the DDL statement … implicitly
-- commits the active transaction" (same transactions page), which is why the working set is a
-- table created above and not a temporary one. The body sits between the begin and end markers
-- below, for the tests that read it.
CREATE OR REPLACE PROCEDURE SP_APPLY_RAW_CHANGES()
RETURNS VARCHAR
LANGUAGE SQL
COMMENT = 'Applies the new CUSTOMER_RAW rows (the stream CUSTOMER_RAW_CHANGES) to CUSTOMER and CUSTOMER_HISTORY in one transaction. Called by TSK_SCD_RAW and 90_rebuild_history.sql.'
EXECUTE AS OWNER
AS
-- procedure:SP_APPLY_RAW_CHANGES begin
$$
BEGIN
    BEGIN TRANSACTION;

    -- 1. The working set: for each customer with new rows, its RAW rows from FROM_TIME on.
    -- FROM_TIME is the start of the version open just before its earliest new row (else that
    -- row's time): everything earlier stays as it is. So the rows a run reads and writes are
    -- the touched customers' rows from their affected version on, whatever the size of the
    -- table: the predicate (CUSTOMER_ID, UPDATED_AT >= FROM_TIME) per customer. Snowflake
    -- prunes micro-partitions by the value ranges it keeps per column
    -- (https://docs.snowflake.com/en/user-guide/tables-clustering-micropartitions); RAW is
    -- clustered by load order, which follows UPDATED_AT. For a very large RAW,
    -- `ALTER TABLE CUSTOMER_RAW CLUSTER BY (CUSTOMER_ID, UPDATED_AT)` makes the per-customer
    -- predicate prunable too (https://docs.snowflake.com/en/user-guide/tables-clustering-keys;
    -- docs/snowflake-setup.md). Reading the stream here consumes it when this transaction
    -- commits.
    INSERT INTO <% database %>.<% schema %>.CUSTOMER_SCD_WORK (
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
        _FILE_ROW_NUMBER,
        _LOADED_AT,
        FROM_TIME
    )
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
        r._LOADED_AT,
        a.FROM_TIME
    FROM <% database %>.<% schema %>.CUSTOMER_RAW AS r
    INNER JOIN (
        SELECT
            t.CUSTOMER_ID,
            COALESCE(MAX(h.START_TIME), t.EARLIEST_NEW) AS FROM_TIME
        FROM (
            SELECT
                CUSTOMER_ID,
                MIN(UPDATED_AT) AS EARLIEST_NEW
            FROM <% database %>.<% schema %>.CUSTOMER_RAW_CHANGES
            GROUP BY CUSTOMER_ID
        ) AS t
        LEFT JOIN <% database %>.<% schema %>.CUSTOMER_HISTORY AS h
            ON h.CUSTOMER_ID = t.CUSTOMER_ID AND h.START_TIME < t.EARLIEST_NEW
        GROUP BY t.CUSTOMER_ID, t.EARLIEST_NEW
    ) AS a
        ON r.CUSTOMER_ID = a.CUSTOMER_ID AND r.UPDATED_AT >= a.FROM_TIME;

    -- 2. SCD1. One row per customer: the newest by (UPDATED_AT, file name, row number, load
    -- time); the working set holds every row from FROM_TIME on, so that is the customer's
    -- newest row.
    -- IS_NEWER: whether it is newer than what CUSTOMER holds, by the same ordering, so
    -- _MERGED_AT moves only when CUSTOMER changes.
        MERGE INTO <% database %>.<% schema %>.CUSTOMER AS tgt
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
                r._LOADED_AT,
                (
                    c.CUSTOMER_ID IS NULL
                    OR r.UPDATED_AT > c.UPDATED_AT
                    OR (r.UPDATED_AT = c.UPDATED_AT AND r._FILE_NAME > c._FILE_NAME)
                    OR (
                        r.UPDATED_AT = c.UPDATED_AT
                        AND r._FILE_NAME = c._FILE_NAME
                        AND r._FILE_ROW_NUMBER > c._FILE_ROW_NUMBER
                    )
                    -- The same key loaded again: the later load wins (a row merged before
                    -- _LOADED_AT existed has none, and is older).
                    OR (
                        r.UPDATED_AT = c.UPDATED_AT
                        AND r._FILE_NAME = c._FILE_NAME
                        AND r._FILE_ROW_NUMBER = c._FILE_ROW_NUMBER
                        AND (c._LOADED_AT IS NULL OR r._LOADED_AT > c._LOADED_AT)
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
                    _FILE_ROW_NUMBER,
                    _LOADED_AT
                FROM <% database %>.<% schema %>.CUSTOMER_SCD_WORK
                QUALIFY
                    ROW_NUMBER() OVER (
                        PARTITION BY CUSTOMER_ID
                        ORDER BY UPDATED_AT DESC, _FILE_NAME DESC, _FILE_ROW_NUMBER DESC, _LOADED_AT DESC
                    ) = 1
            ) AS r
            LEFT JOIN <% database %>.<% schema %>.CUSTOMER AS c ON r.CUSTOMER_ID = c.CUSTOMER_ID
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
                _LOADED_AT = src._LOADED_AT,
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
                _LOADED_AT = src._LOADED_AT,
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
            _LOADED_AT,
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
            src._LOADED_AT,
            SYSDATE()
        );

    -- 3. SCD2. The touched customers' versions from FROM_TIME on are replaced by the timeline
    -- recomputed from the working set: new versions appear, neighbours' START/END/IS_CURRENT
    -- change, versions a late row made obsolete go.
    -- (DELETE … USING takes a subquery; the target has no alias in the documented syntax,
    -- https://docs.snowflake.com/en/sql-reference/sql/delete.)
    DELETE FROM <% database %>.<% schema %>.CUSTOMER_HISTORY
    USING (
        SELECT DISTINCT
            CUSTOMER_ID,
            FROM_TIME
        FROM <% database %>.<% schema %>.CUSTOMER_SCD_WORK
    ) AS a
    WHERE
        CUSTOMER_HISTORY.CUSTOMER_ID = a.CUSTOMER_ID
        AND CUSTOMER_HISTORY.START_TIME >= a.FROM_TIME;

    INSERT INTO <% database %>.<% schema %>.CUSTOMER_HISTORY (
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
    )
    SELECT
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
    FROM <% database %>.<% schema %>.V_CUSTOMER_TIMELINE;

    DELETE FROM <% database %>.<% schema %>.CUSTOMER_SCD_WORK;

    COMMIT;
EXCEPTION
    WHEN OTHER THEN
        ROLLBACK;
        RAISE;
END;
$$;
-- procedure:SP_APPLY_RAW_CHANGES end

-- Triggered: no SCHEDULE, so the task runs when the stream has data, "at most every 30 seconds
-- by default" (USER_TASK_MINIMUM_TRIGGER_INTERVAL_IN_SECONDS, down to 10)
-- (https://docs.snowflake.com/en/user-guide/tasks-triggered: "Do not include the SCHEDULE
-- parameter"). A fixed schedule and serverless compute are documented options
-- (docs/snowflake-setup.md). Runs never overlap (OVERLAP_POLICY's default is NO_OVERLAP,
-- https://docs.snowflake.com/en/sql-reference/sql/create-task), so one run at a time uses
-- CUSTOMER_SCD_WORK.
--
-- The body calls SP_APPLY_RAW_CHANGES (above).
--
-- CREATE OR ALTER, not OR REPLACE: "privilege grants on the object are preserved"
-- (https://docs.snowflake.com/en/sql-reference/sql/create-or-alter), so re-running this script
-- alone keeps the monitor's MONITOR grant (06_grants.sql). It needs the task suspended (done
-- above) and leaves it so: "A task cannot be resumed or suspended using the CREATE OR ALTER
-- TASK command" (https://docs.snowflake.com/en/sql-reference/sql/create-task).
--
-- Failure parameters, set here rather than inherited (same page):
-- - SUSPEND_TASK_AFTER_NUM_FAILURES = 10: after ten consecutive failed or timed-out runs the
--   task suspends itself instead of failing every trigger interval on the warehouse. Nothing
--   is lost: the stream keeps the rows until a fixed task consumes them. The monitor tells this
--   apart from an operator's ALTER TASK … SUSPEND by SHOW TASKS' last_suspended_reason and
--   alerts on it (docs/functions.md).
-- - USER_TASK_TIMEOUT_MS = 3600000 (1 h): a run reads only the touched customers' rows, so even
--   a day's backlog finishes in minutes; a run that hangs longer fails ("timed-out tasks always
--   have a FAILED state", https://docs.snowflake.com/en/sql-reference/account-usage/task_history),
--   rolls back and counts toward the suspension above. 90_rebuild_history.sql does not run in
--   the task, so this limit does not bound a rebuild.
CREATE OR ALTER TASK TSK_SCD_RAW
    WAREHOUSE = <% warehouse %>
    SUSPEND_TASK_AFTER_NUM_FAILURES = 10
    USER_TASK_TIMEOUT_MS = 3600000
    COMMENT = 'SCD1 and SCD2: applies new CUSTOMER_RAW rows to CUSTOMER and CUSTOMER_HISTORY in one transaction.'
WHEN SYSTEM$STREAM_HAS_DATA('<% database %>.<% schema %>.CUSTOMER_RAW_CHANGES')
AS
    CALL <% database %>.<% schema %>.SP_APPLY_RAW_CHANGES();

ALTER TASK TSK_SCD_RAW RESUME;
