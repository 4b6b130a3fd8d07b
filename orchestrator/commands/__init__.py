"""Sub-commands of ``python -m orchestrator``; each module exposes ``add_arguments(parser)``
and ``run(args) -> int`` and is imported only when its command runs."""
