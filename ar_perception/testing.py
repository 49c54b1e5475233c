"""Test a node without sockets or processes: feed it messages in this process, get its outputs back,
checked and stamped as the runtime would (strict by default, so bad data raises)."""

from ar_perception.runtime.harness import NodeHarness, run_node, run_source

__all__ = ["run_node", "run_source", "NodeHarness"]
