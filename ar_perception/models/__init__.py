"""Models: EUPE encoders (eupe.py), weights (weights.py), ONNX export (onnx_export.py) and runners
(onnx.py), the offline stand-in (standin.py), the encoder object nodes drive (encoder.py). Nothing is
imported here, so `import ar_perception.models` stays free of torch and onnxruntime."""
