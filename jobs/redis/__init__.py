"""Redis plumbing: the client and its failures (:mod:`.connection`) and every key name
(:mod:`.keys`)."""
