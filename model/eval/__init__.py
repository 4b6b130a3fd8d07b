"""Evaluation: AVA frame mAP (equal to the official ActivityNet evaluator), Kinetics metrics,
ensembling and challenge submission files. See docs/evaluation.md.

Modules: ``ava`` (``frame_map`` and the ``python -m model.eval.ava`` CLI), ``ava_io`` (readers),
``ava_stream`` (detection blocks for the cap), ``ava_cap`` (the 50-row cap), ``ava_matching``
(the official rules as array operations), ``kinetics``, ``ensemble``,
``submission`` (``python -m model.eval.submission validate ...``).
"""
