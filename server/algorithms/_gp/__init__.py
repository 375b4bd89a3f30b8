"""The Gaussian-process maths behind `gp.py`, on arrays only (no params, no history).

- `kernel.py`: the Matern 5/2 ARD kernel and its gradient.
- `model.py`: the GP posterior and hyperparameter fitting (MAP, L-BFGS-B).
- `warp.py`: output standardisation and compression of bad values.
- `acquisition.py`: log-EI, EI and UCB on a fitted model.
- `optimize.py`: acquisition maximisation over a mixed one-hot cube.
"""
