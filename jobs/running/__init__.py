"""Running agents: the runner (:mod:`.runner`) and one run's pipeline (:mod:`.pipeline`), the
agent loop (:mod:`.loop`), the journal a takeover continues from (:mod:`.journal`), the lease,
the cancel inbox and their supervision (:mod:`.lease`, :mod:`.inbox`, :mod:`.supervision`),
token budgets and prices (:mod:`.budgets`, :mod:`.prices`) and the webhook sent when a job
ends (:mod:`.webhooks`)."""
