-- 03_ingest.sql: file format, stage and the pipe (REST, no auto-ingest). Run as
-- CUSTOMER_PIPELINE_ADMIN:
--   snow sql -f sql/03_ingest.sql --role CUSTOMER_PIPELINE_ADMIN -D database=CUSTOMERS -D schema=RAW \
--       -D integration=CUSTOMER_S3 -D bucket_url=s3://my-landing-bucket/stream_data/
-- Nothing here is replaced on a re-run: replacing the pipe would discard its load history (and
-- reload files), replacing the stage or format would break the pipe. Change them with ALTER.

USE SCHEMA <% database %>.<% schema %>;

-- The contract: one header row, RFC 4180 quoting, UTF-8, gzip recognised automatically.
-- RFC 4180 has no backslash escapes, so ESCAPE_UNENCLOSED_FIELD = NONE: under its default
-- (backslash) an unquoted `a\,b` would be one field and shift every column after it, which a
-- transforming COPY does not notice. An empty field, quoted ("") or not, is absent in the
-- contract and loads as NULL: EMPTY_FIELD_AS_NULL covers two successive delimiters, and
-- NULL_IF = ('') the quoted empty string; the default NULL_IF ('\\N') would turn a literal
-- `\N` into NULL (https://docs.snowflake.com/en/sql-reference/sql/create-file-format).
-- No ERROR_ON_COLUMN_COUNT_MISMATCH: "When transforming data during loading (that is, using a
-- query as the source for the COPY INTO <table> command), this option is ignored"
-- (https://docs.snowflake.com/en/sql-reference/sql/copy-into-table), and the pipe below
-- transforms. A short row loads NULLs and a long row loads its first ten fields, so the ingest
-- function's validator is what rejects both (the CSV contract's column count).
CREATE FILE FORMAT IF NOT EXISTS CUSTOMER_CSV
    TYPE = CSV
    SKIP_HEADER = 1
    FIELD_DELIMITER = ','
    FIELD_OPTIONALLY_ENCLOSED_BY = '"'
    ESCAPE_UNENCLOSED_FIELD = NONE
    EMPTY_FIELD_AS_NULL = TRUE
    NULL_IF = ('')
    COMPRESSION = AUTO
    ENCODING = 'UTF8'
    -- The contract's updated_at, 2026-11-23T10:14:51Z, with the Z a literal: no AUTO format ends
    -- in Z (https://docs.snowflake.com/en/sql-reference/date-time-input-output, "Supported
    -- formats for AUTO detection"; literals in double quotes, "for example, "T", "EST", "Z"").
    -- The value is UTC and lands in TIMESTAMP_NTZ as wall-clock time.
    TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'
    COMMENT = 'Customer change files (see the CSV contract in docs/contract.md).';

-- The same two options on a format created before they were set (docs/snowflake-setup.md,
-- "Upgrading"); the pipe reads the format at each load.
ALTER FILE FORMAT CUSTOMER_CSV SET ESCAPE_UNENCLOSED_FIELD = NONE NULL_IF = ('');

CREATE STAGE IF NOT EXISTS CUSTOMER_STAGE
    URL = '<% bucket_url %>'
    STORAGE_INTEGRATION = <% integration %>
    FILE_FORMAT = CUSTOMER_CSV
    COMMENT = 'The landing prefix; Snowpipe paths are relative to it.';

-- AUTO_INGEST = FALSE: the ingest function submits only validated files through insertFiles.
-- _LOADED_AT is METADATA$START_SCAN_TIME, not a SYSDATE() default: for Snowpipe, such values "can
-- be a few hours earlier than the LOAD_TIME values returned by the COPY_HISTORY function", and
-- Snowflake recommends METADATA$START_SCAN_TIME
-- (https://docs.snowflake.com/en/sql-reference/sql/create-pipe;
-- https://docs.snowflake.com/en/user-guide/querying-metadata).
-- ON_ERROR = SKIP_FILE: a file that still fails loads nothing (never half a file), shows up in
-- COPY_HISTORY as failed, and the monitor alarms on it.
CREATE PIPE IF NOT EXISTS CUSTOMER_PIPE
AUTO_INGEST = FALSE
COMMENT = 'Loads validated customer files into CUSTOMER_RAW with their file name and row number.'
AS
COPY INTO CUSTOMER_RAW (
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
)
FROM (
    SELECT
        f.$1,
        f.$2,
        f.$3,
        f.$4,
        f.$5,
        f.$6,
        f.$7,
        f.$8,
        f.$9,
        f.$10,
        -- The COPY metadata columns are not qualified by the stage alias.
        METADATA$FILENAME,  -- noqa: RF03
        METADATA$FILE_ROW_NUMBER,  -- noqa: RF03
        METADATA$START_SCAN_TIME  -- noqa: RF03
    -- `FROM @stage [ <alias> ]`: the documented form has no AS
    -- (https://docs.snowflake.com/en/sql-reference/sql/copy-into-table).
    FROM @CUSTOMER_STAGE f  -- noqa: AL01
)
FILE_FORMAT = (FORMAT_NAME = 'CUSTOMER_CSV')
ON_ERROR = SKIP_FILE;
