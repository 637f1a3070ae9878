"""scikit-learn's ``MLPClassifier`` / ``MLPRegressor`` behind the implementation protocol."""
