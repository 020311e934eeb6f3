"""The evaluation engine: tasks × backends → per-item records, statistics, claims.

Evaluation is an explicit command (``seewhy eval``), never part of ``audit``:
it runs a model. The audit only reads the records it stored (``--evidence``).
The contract every part codes against lives in :mod:`seewhy.evaluation.model`.
"""
