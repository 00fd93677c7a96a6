"""The event path from a run to its readers: the lossless throttle (:mod:`.coalescer`), the
batched writer (:mod:`.writer`) into the job's Redis Stream (:mod:`.eventlog`), the in-process
fan-out (:mod:`.channel`), the tailer for runs on other instances (:mod:`.tailer`), who
watches a job (:mod:`.presence`), this instance's open streams (:mod:`.open_streams`) and the
batched lease checks of tailing streams (:mod:`.lease_checks`)."""
