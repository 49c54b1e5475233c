"""`arp` command groups, one module each, registered by ar_perception.cli (each has `register(app)`).

Heavy imports (torch, onnxruntime, mcap, faster-whisper...) happen inside the commands, never at import.
"""
