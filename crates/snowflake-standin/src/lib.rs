//! A local Snowflake: see the README section "The stand-ins".
