"""Scene question answering that states only what perception found.

- `model.py`: the typed scene model (objects with class, instance, size, place, colour, times), built from
  Mask + Depth (+ Image, + CameraInfo with a pose).
- `colour.py`: colour names measured from pixels, in a perceptual colour space.
- `memory.py`: objects kept across frames in world coordinates when there is a camera pose.
- `query.py`: the typed query a question is parsed into, and the JSON schema that constrains an LLM to it.
- `parse.py`: the rule-based parser; `llm.py`: the LLM parser under a grammar, and the check of LLM phrasing.
- `answer.py`: deterministic, grammatical answers from the scene model.
"""
