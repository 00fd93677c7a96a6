"""The job record and what is kept beside it in Redis: the record itself (:mod:`.model`), its
atomic create/claim/settle scripts (:mod:`.store`), each user's index of their jobs
(:mod:`.listing`), limits (:mod:`.limits`), custom agents (:mod:`.custom_agents`) and
``Idempotency-Key`` replies (:mod:`.idempotency`)."""
