"""The runtime: one process per node (worker.py), their supervisor (launch.py), sockets, queues and sync,
and the Node base class (node.py) with its messages (msg.py)."""
