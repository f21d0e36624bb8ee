"""Scene builders: MJCF strings for each robot, built from the model files the PyPI packages ship."""
