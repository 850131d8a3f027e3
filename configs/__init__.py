"""Training configs (loaded by path) and the released-recipe tables (`tables`).

The config files `configs/*.py` are loaded by path with
`config_flags.DEFINE_config_file`; this file only makes `configs.tables`
importable as a package. It imports nothing.
"""
