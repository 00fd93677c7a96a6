"""The job domain: the job model, its Redis keys, the store, the event log, the runner, agents."""
