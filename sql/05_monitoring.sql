-- 05_monitoring.sql: the names the monitor watches, in one place, for operators (the monitor
-- function has the same defaults in MONITOR_TASKS and MONITOR_STREAMS, and no grant on that
-- view), and the merge-lag view the monitor reads (its only grant here, 06_grants.sql):
--   snow sql -f sql/05_monitoring.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW
-- TASK_HISTORY(TASK_NAME => ...) takes unqualified names, so the view holds them unqualified.

-- COPY GRANTS keeps the monitor's SELECT on PIPELINE_MERGE_LAG when this script runs again alone
-- ("Retains the access permissions from the original view when a new view is created using the
-- OR REPLACE clause", https://docs.snowflake.com/en/sql-reference/sql/create-view).

USE SCHEMA <% database %>.<% schema %>;

CREATE OR REPLACE VIEW PIPELINE_OBJECTS
COPY GRANTS
COMMENT = 'The pipeline''s tasks (in graph order), pipe and streams, as the monitor watches them.'
AS
SELECT
    t.OBJECT_TYPE,
    t.OBJECT_NAME,
    t.GRAPH_ORDER
FROM (
    VALUES
    ('TASK', 'TSK_SCD_RAW', 1),
    ('PIPE', 'CUSTOMER_PIPE', NULL),
    ('STREAM', 'CUSTOMER_RAW_CHANGES', NULL)
) AS t (OBJECT_TYPE, OBJECT_NAME, GRAPH_ORDER);

-- Merge lag: how many loaded rows wait to reach CUSTOMER and CUSTOMER_HISTORY, and when the
-- oldest of them was loaded (NULL when none wait); the monitor turns that into an age with its
-- own clock. No customer data. Selecting from the stream does not consume it: "Querying a
-- stream alone does not advance its offset"
-- (https://docs.snowflake.com/en/user-guide/streams-intro). That a view may select from a
-- stream is not settled by the docs (docs/stand-ins.md, unverified).
CREATE OR REPLACE VIEW PIPELINE_MERGE_LAG
COPY GRANTS
COMMENT = 'Rows loaded into CUSTOMER_RAW and not yet applied by TSK_SCD_RAW, and when the oldest was loaded.'
AS
SELECT
    COUNT(*) AS UNMERGED_ROWS,
    MIN(_LOADED_AT) AS OLDEST_UNMERGED_LOADED_AT
FROM CUSTOMER_RAW_CHANGES;
