"""The batch job: runs, shards, resume, and the drift hook that runs after the last shard."""
