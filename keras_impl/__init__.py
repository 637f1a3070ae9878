"""The spec as a keras.Sequential model and a keras optimizer, on any Keras 3 backend. Imports ``reference`` only.

A Keras backend is fixed per process: ``implementation.KerasImplementation`` runs on the current
one, and ``backends.py`` starts the others in worker processes.
"""
