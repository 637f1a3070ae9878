"""The spec as a torch.nn model and a torch.optim optimizer. Imports ``reference`` only."""
