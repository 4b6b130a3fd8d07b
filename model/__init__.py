"""The ML library of the programme: networks, data, metrics and the training engine.

Usable on its own (``from model.nets import build``): it knows nothing of SQL, SLURM or
Streamlit. Sub-packages are imported lazily so ``import model`` stays cheap.
"""
