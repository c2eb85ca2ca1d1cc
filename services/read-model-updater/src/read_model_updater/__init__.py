"""read_model_updater."""
