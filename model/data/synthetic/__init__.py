"""Generated Kinetics- and AVA-format datasets: real H.264 MP4 + official annotation files.

Labels are learnable only from motion over time, so a tiny SlowFast trained for a few
minutes on 2 CPU cores scores clearly above chance. Deterministic by seed; small by default
(seconds to generate), scalable by flags.

Command line::

    python -m model.data.synthetic --out DIR --kind kinetics [--version 600|700]
        [--seed N] [--size small|medium|bench] [--videos-per-class N] [--num-classes N]
    python -m model.data.synthetic --out DIR --kind ava [--seed N] [--size ...]
        [--movies TRAIN VAL TEST] [--duration S]

Python: ``generate_kinetics(out_dir, *, seed, version, num_classes, videos_per_class, ...)``
and ``generate_ava(out_dir, *, seed, movies, size, duration_s, ...)``; their module
docstrings (``kinetics_gen``, ``ava_gen``) give the layout and the timeline convention.
"""

from model.data.synthetic.ava_gen import generate_ava
from model.data.synthetic.kinetics_gen import generate_kinetics
from model.data.synthetic.mp4 import write_mp4

__all__ = ["generate_ava", "generate_kinetics", "write_mp4"]
