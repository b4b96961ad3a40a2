"""Usage of Keap's API: every call recorded (webapp.usage.recorder), rolled up, and reported.

The Keap client calls `recorder.record(CallRecord(...))` (webapp.usage.records) after every call; the `flush_usage` beat
task moves the buffer into the database; `reports` and the rollup QuerySets answer the pages.
"""
