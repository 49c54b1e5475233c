"""Models: EUPE encoders (eupe.py), weights (weights.py), ONNX export and runners (onnx.py), the
encoder object nodes drive (encoder.py). Nothing is imported here, so `import ar_perception.models`
stays free of torch and onnxruntime."""
