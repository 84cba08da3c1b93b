"""The tools the model sees: the editor, bash, run_tests and finish."""
