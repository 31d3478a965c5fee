"""The pure decisions: what the cluster view asks of this speaker. No I/O.

``clusterview``: the immutable ``ClusterView`` a generation of the caches makes; ``allocation``: one Service ->
allocation actions; ``announce``: the Layer 2 plan (one node per address) and the BGP plan; ``election``: who
announces; ``endpoints``: ready nodes per Service; ``actions``: what the decisions return, as values. The
controllers (``speaker/controllers/``) perform the actions.
"""
