"""Scene question answering that states only what perception found.

- `model.py`: the typed scene model (objects with class, instance, size, place, colour, times), built from
  Mask + Depth (+ Image, + CameraInfo with a pose); `regions.py`: its pixel side (regions of a class mask, cut
  where depth jumps, joined where one object was cut).
- `colour.py`: colour names measured from pixels, in a perceptual colour space.
- `memory.py`: objects kept across frames in world coordinates when there is a camera pose.
- `query.py`: the typed query a question is parsed into, and the JSON schema that constrains an LLM to it.
- `parse.py`: the rule-based parser; `llm.py`: the LLM parser under a grammar, and the check of LLM phrasing.
- `answer.py`: deterministic, grammatical answers from the scene model; `words.py`: the English they are written
  in (plurals, a/an, numbers, lengths); `relations.py`: left of, on, next to, between... from where objects are.
"""
