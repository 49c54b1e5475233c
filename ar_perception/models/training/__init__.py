"""Training and evaluating the linear heads on frozen, cached encoder features (`arp train-head`, `arp eval`).

datasets.py reads the dataset folders (arp-sim, ADE20K-style, NYU-style); features.py caches the
encoder's patch grids on disk; fit.py trains and evaluates; metrics.py defines the metrics. Importing
this package imports neither torch nor onnxruntime.
"""
