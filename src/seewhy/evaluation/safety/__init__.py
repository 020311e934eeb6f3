"""Safety probes on the evaluation engine: refusal, over-refusal, jailbreaks, safety drift.

- :mod:`.refusal` — the string-and-pattern refusal classifier and its evidence;
- :mod:`.tasks` — the probe tasks (``xstest``, ``harmbench``, ``advbench``,
  ``jailbreak``) and the ``safety`` bundle;
- :mod:`.judge` — an optional judge model behind any OpenAI-compatible endpoint;
- :mod:`.report` — rates with Wilson intervals per category and wrapper, safety
  drift between two models, and the responsible display of completions.
"""
