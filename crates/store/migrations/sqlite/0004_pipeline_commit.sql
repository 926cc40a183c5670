-- What the built commit says about itself (subject, body, author, committer), as JSON, for the
-- v1.1 build object and the v2 pipeline's vcs.commit; filled when the trigger reads the repository.
ALTER TABLE pipelines ADD COLUMN commit_info TEXT NOT NULL DEFAULT '{}';
