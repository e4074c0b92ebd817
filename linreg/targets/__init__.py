"""Targets shipped with linreg: the tutorial (the default) and examples a user can copy.

Each is a file a user's own target can start from: ``mlp`` (a tiny classifier on a shuffling
DataLoader), ``cnn`` (BatchNorm and Dropout), ``chargpt`` (a character-level transformer on a
bundled text, with AdamW, a warm-up then cosine schedule, and gradient clipping). Nothing here is
imported by the rest of linreg: a target is loaded by its spec (linreg.target_loading).
"""
