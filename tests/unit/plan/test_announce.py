"""Who announces what by Layer 2, from the objects a user writes (pure)."""

from speaker.config.cluster import build_config
from speaker.plan.announce import addressed_services, l2_plan
from speaker.plan.election import EXCLUDE_LABEL, NodeInfo, node_info


def obj(kind, name, spec, ts="2026-01-01T00:00:00Z"):
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "metallb-system", "creationTimestamp": ts},
        "spec": spec,
    }


def svc(name, ips, pool="lan", local=False, ts="2026-01-02T00:00:00Z", ns="default", **spec):
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "creationTimestamp": ts,
            "annotations": {"metallb.io/ip-allocated-from-pool": pool} if pool else {},
        },
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local" if local else "Cluster", **spec},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


CFG = build_config(
    [
        obj("IPAddressPool", "lan", {"addresses": ["198.51.100.240-198.51.100.250"]}),
        obj("IPAddressPool", "bgp-only", {"addresses": ["192.0.2.0/28"]}),
    ],
    [
        obj("L2Advertisement", "lan", {"ipAddressPools": ["lan"]}),
        obj(
            "L2Advertisement",
            "lan-eth1",
            {"ipAddressPools": ["lan"], "interfaces": ["eth1"], "nodeSelectors": [{"matchLabels": {"rack": "a"}}]},
        ),
    ],
)
NODES = {"n1": NodeInfo({"rack": "a"}), "n2": NodeInfo({"rack": "b"}), "n3": NodeInfo({EXCLUDE_LABEL: ""})}
ALIVE = frozenset({"n1", "n2", "n3"})


def plan(services, ready=None, alive=ALIVE, nodes=NODES, cfg=CFG):
    return l2_plan(addressed_services(services, None), cfg, nodes, ready or {}, alive)


def test_only_l2_pools_and_never_excluded_nodes():
    p = plan([svc("web", ["198.51.100.240"]), svc("bgp", ["192.0.2.1"], pool="bgp-only")])
    assert set(p) == {"198.51.100.240"}
    assert p["198.51.100.240"].node in {"n1", "n2"}
    assert p["198.51.100.240"].services == ("default/web",)


def test_interfaces_wildcard_wins_over_named():
    assert plan([svc("web", ["198.51.100.240"])])["198.51.100.240"].interfaces is None


def test_local_traffic_policy_follows_ready_endpoints_and_nothing_without_them():
    s = svc("web", ["198.51.100.241"], local=True)
    assert plan([s], ready={"default/web": frozenset({"n2"})})["198.51.100.241"].node == "n2"
    assert plan([s], ready={"default/web": frozenset({"n1"})})["198.51.100.241"].node == "n1"
    assert plan([s], ready={}) == {}


def test_dead_node_loses_its_addresses_to_a_live_one():
    services = [svc(f"s{i}", [f"198.51.100.{240 + i}"]) for i in range(6)]
    before = plan(services)
    mine = {ip for ip, c in before.items() if c.node == "n1"}
    after = plan(services, alive=frozenset({"n2", "n3"}))
    assert all(c.node == "n2" for c in after.values())
    assert {ip for ip, c in before.items() if c.node != after[ip].node} == mine  # only n1's addresses move


def test_shared_address_has_one_announcer_listing_every_service():
    p = plan([svc("dns-tcp", ["198.51.100.245"]), svc("dns-udp", ["198.51.100.245"])])
    assert p["198.51.100.245"].services == ("default/dns-tcp", "default/dns-udp")


def test_same_inputs_same_answer_whatever_the_order():
    services = [svc(f"s{i}", [f"198.51.100.{240 + i}"], ts=f"2026-01-0{1 + i % 3}T00:00:00Z") for i in range(9)]
    assert plan(services) == plan(list(reversed(services)))


def test_bgp_plan_nodes_peers_local_and_aggregation():
    from speaker.plan.announce import bgp_plan, peers_for_node

    cfg = build_config(
        [obj("IPAddressPool", "pub", {"addresses": ["192.0.2.0/28"]})],
        [],
        [
            obj("BGPAdvertisement", "all", {"ipAddressPools": ["pub"], "communities": ["64512:100"]}),
            obj(
                "BGPAdvertisement",
                "agg",
                {
                    "ipAddressPools": ["pub"],
                    "aggregationLength": 28,
                    "peers": ["edge"],
                    "nodeSelectors": [{"matchLabels": {"rack": "a"}}],
                },
            ),
        ],
        [
            obj("BGPPeer", "edge", {"myASN": 64512, "peerASN": 64513, "peerAddress": "198.51.100.1"}),
            obj(
                "BGPPeer",
                "tor-b",
                {
                    "myASN": 64512,
                    "peerASN": 64514,
                    "peerAddress": "198.51.100.2",
                    "nodeSelectors": [{"matchLabels": {"rack": "b"}}],
                },
            ),
        ],
    )
    assert not cfg.errors, cfg.errors
    services = addressed_services(
        [svc("web", ["192.0.2.1"], pool="pub"), svc("db", ["192.0.2.2"], pool="pub", local=True)], None
    )
    rack_a = {"rack": "a"}
    peers = peers_for_node(cfg.peers.values(), rack_a)
    assert [p.name for p in peers] == ["edge"]  # tor-b selects rack b only
    plan_a = bgp_plan(services, cfg, "n1", rack_a, {"default/db": frozenset({"n2"})}, peers)
    prefixes = sorted(str(r.prefix) for r in plan_a["edge"])
    assert prefixes == ["192.0.2.0/28", "192.0.2.1/32"]  # db: no ready endpoint on n1; agg only to edge
    web = next(r for r in plan_a["edge"] if str(r.prefix) == "192.0.2.1/32")
    assert web.communities == ((64512 << 16) | 100,)
    plan_b = bgp_plan(
        services,
        cfg,
        "n2",
        {"rack": "b"},
        {"default/db": frozenset({"n2"})},
        peers_for_node(cfg.peers.values(), {"rack": "b"}),
    )
    assert sorted(str(r.prefix) for r in plan_b["edge"]) == ["192.0.2.1/32", "192.0.2.2/32"]
    assert sorted(str(r.prefix) for r in plan_b["tor-b"]) == ["192.0.2.1/32", "192.0.2.2/32"]
    # an excluded node (kubeadm's label, ignore_exclude_lb off) keeps its sessions and advertises nothing
    excluded = node_info({"metadata": {"labels": {"rack": "b", EXCLUDE_LABEL: ""}}}).why_excluded
    plan_x = bgp_plan(
        services,
        cfg,
        "n2",
        {"rack": "b"},
        {"default/db": frozenset({"n2"})},
        peers_for_node(cfg.peers.values(), {"rack": "b"}),
        node_excluded=excluded,
    )
    assert plan_x == {"edge": frozenset(), "tor-b": frozenset()}


# ----------------------------------------------------------------- addresses nobody may announce, and why

from speaker.plan.announce import NO_ELIGIBLE_NODE, NO_LIVE_SPEAKER, l2_unannounced  # noqa: E402

KUBEADM = {
    f"cp{i}": {
        "metadata": {"name": f"cp{i}", "labels": {"node-role.kubernetes.io/control-plane": "", EXCLUDE_LABEL: ""}}
    }
    for i in (1, 2, 3)
}


def gaps(services, nodes=NODES, ready=None, alive=ALIVE, cfg=CFG):
    addressed = addressed_services(services, None)
    p = l2_plan(addressed, cfg, nodes, ready or {}, alive)
    return l2_unannounced(addressed, cfg, nodes, ready or {}, alive, p)


def test_all_control_plane_homelab_has_no_eligible_node_and_says_which_label():
    nodes = {n: node_info(o) for n, o in KUBEADM.items()}
    g = gaps([svc("traefik", ["198.51.100.240"], ts="2026-01-03T00:00:00Z")], nodes=nodes, alive=frozenset(nodes))
    assert list(g) == ["default/traefik"]
    assert g["default/traefik"].reason == NO_ELIGIBLE_NODE
    assert g["default/traefik"].message == (
        "198.51.100.240: no node may announce it: cp1, cp2, cp3: labelled "
        "node.kubernetes.io/exclude-from-external-load-balancers (set ignore_exclude_lb to announce from them)"
    )


def test_ignore_exclude_lb_makes_the_same_nodes_eligible():
    nodes = {n: node_info(o, ignore_exclude_lb=True) for n, o in KUBEADM.items()}
    services = [svc("traefik", ["198.51.100.240"])]
    assert gaps(services, nodes=nodes, alive=frozenset(nodes)) == {}
    p = plan(services, nodes=nodes, alive=frozenset(nodes))
    assert p["198.51.100.240"].node in nodes
    # NetworkUnavailable still excludes, as in MetalLB (nodes.go IsNetworkUnavailable is not behind the flag)
    down = dict(KUBEADM["cp1"], status={"conditions": [{"type": "NetworkUnavailable", "status": "True"}]})
    assert node_info(down, ignore_exclude_lb=True).excluded


def test_each_reason_is_named_per_node():
    nodes = {
        "n1": NodeInfo({"rack": "b"}, network_unavailable=True),
        "n2": NodeInfo({EXCLUDE_LABEL: "true"}),
        "n3": NodeInfo({"rack": "b"}),
    }
    cfg = build_config(
        [obj("IPAddressPool", "lan", {"addresses": ["198.51.100.240-198.51.100.250"]})],
        [obj("L2Advertisement", "a", {"ipAddressPools": ["lan"], "nodeSelectors": [{"matchLabels": {"rack": "a"}}]})],
    )
    [gap] = gaps([svc("web", ["198.51.100.241"])], nodes=nodes, cfg=cfg).values()
    assert gap.message == (
        "198.51.100.241: no node may announce it: n1: NetworkUnavailable; n2: labelled "
        "node.kubernetes.io/exclude-from-external-load-balancers (set ignore_exclude_lb to announce "
        "from them); n3: not selected by the L2Advertisement nodeSelectors"
    )


def test_local_policy_without_ready_endpoints_is_a_gap_and_one_endpoint_ends_it():
    s = svc("web", ["198.51.100.241"], local=True)
    [gap] = gaps([s]).values()
    assert gap.reason == NO_ELIGIBLE_NODE and "n1, n2: no ready endpoint of the Service" in gap.message
    assert gaps([s], ready={"default/web": frozenset({"n2"})}) == {}


def test_eligible_but_dead_is_a_liveness_gap_not_an_eligibility_one():
    [gap] = gaps([svc("web", ["198.51.100.240"])], alive=frozenset({"n3"})).values()
    assert gap.reason == NO_LIVE_SPEAKER and gap.message.endswith("eligible nodes (n1, n2)")


def test_no_gap_for_bgp_only_pools_or_an_address_shared_with_an_announced_service():
    assert gaps([svc("bgp", ["192.0.2.1"], pool="bgp-only")]) == {}
    shared = [
        svc("a", ["198.51.100.242"], local=True, ts="2026-01-02T00:00:00Z"),
        svc("b", ["198.51.100.242"], ts="2026-01-03T00:00:00Z"),
    ]
    assert gaps(shared) == {}  # b's nodes announce it (group_shared's union)
