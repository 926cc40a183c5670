-- How many bytes of output each step has stored, kept as a running total so checking a step
-- against its output cap is one row read, not a sum over all its chunks.
ALTER TABLE job_steps ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0;
