"""A Ray cluster of two fake machines on this one: `laptop` (the head) and `gpu-box` (with an `accel`
resource), each a Ray node with its `machine` label. Run inside a loopback-only network namespace; prints
the head's address, then keeps the cluster until its standard input closes."""

import sys

from ray.cluster_utils import Cluster


def main() -> None:
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "labels": {"machine": "laptop"}, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=2, labels={"machine": "gpu-box"}, resources={"accel": 1})
    cluster.wait_for_nodes()
    print(cluster.address, flush=True)
    sys.stdin.read()
    cluster.shutdown()


if __name__ == "__main__":
    main()
