"""``baremetal-lb status --cluster``: the whole cluster's load balancing, read from the API (no ssh to nodes).

Three parts, so the decisions are testable without a cluster: :mod:`.read` lists the objects (the only part that
talks to the API), :mod:`.report` turns them into the report (pure: its dict is the ``--output json`` schema,
docs/troubleshooting.md), :mod:`.table` renders the report for people (pure).
"""
