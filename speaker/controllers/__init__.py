"""The controllers: each turns the cluster, as one ``ClusterView`` shows it, into effects, on its own thread.

``allocation`` (the allocator leader's: Services' addresses and status), ``layer2`` (every speaker: ARP/NDP
answers and ServiceL2Status), ``bgp`` (every speaker: sessions, routes and ServiceBGPStatus), ``statusgc`` (the
allocator leader's: status objects of dead speakers) and ``reconciler`` (the dirty-flag loop three of them share).
Each decides with a pure function (``speaker.plan.allocation``, ``speaker.plan.announce``, ``statusgc.sweep``) that
returns actions (``speaker.plan.actions``), and performs them in small executors: ``_execute`` is a ``match`` over the
controller's own union of actions ending in ``assert_never``, so mypy rejects an action kind it has no executor for.
"""
