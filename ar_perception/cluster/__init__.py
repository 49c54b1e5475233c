"""Ray as arp's control plane: connecting to a cluster (`connect.py`) and replaying many recordings through a
graph, one Ray task each (`batch.py`, `manifest.py`). Payloads never travel through Ray."""
