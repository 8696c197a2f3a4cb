-- 05_monitoring.sql: the names the monitor watches, in one place, for operators (the monitor
-- function has the same defaults in MONITOR_TASKS and MONITOR_STREAMS, and no grant on this view):
--   snow sql -f sql/05_monitoring.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW
-- TASK_HISTORY(TASK_NAME => ...) takes unqualified names, so the view holds them unqualified.

USE SCHEMA <% database %>.<% schema %>;

CREATE OR REPLACE VIEW PIPELINE_OBJECTS
COMMENT = 'The pipeline''s tasks (in graph order), pipe and streams, as the monitor watches them.'
AS
SELECT
    t.OBJECT_TYPE,
    t.OBJECT_NAME,
    t.GRAPH_ORDER
FROM (
    VALUES
    ('TASK', 'TSK_SCD_RAW', 1),
    ('TASK', 'TSK_SCD_HIST', 2),
    ('PIPE', 'CUSTOMER_PIPE', NULL),
    ('STREAM', 'CUSTOMER_RAW_CHANGES', NULL),
    ('STREAM', 'CUSTOMER_CHANGES', NULL)
) AS t (OBJECT_TYPE, OBJECT_NAME, GRAPH_ORDER);
