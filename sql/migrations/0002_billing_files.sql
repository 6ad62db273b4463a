-- gpucost warehouse, schema version 2.
-- Billing files imported by `gpucost collect billing`: one row per file (S3 object or local
-- file), so a re-run skips unchanged files and replaces changed ones. `source` equals
-- raw_billing_line_items.source and loads.source of the file's rows.
create table billing_files (
    source        varchar   not null primary key,  -- 's3://bucket/key' or absolute local path
    etag          varchar   not null,              -- S3 ETag; local files: sha256 of the bytes
    size_bytes    bigint    not null,
    window_start  timestamp not null,              -- the load window of its rows
    window_end    timestamp not null,
    row_count     bigint    not null,
    loaded_at     timestamp not null
);
