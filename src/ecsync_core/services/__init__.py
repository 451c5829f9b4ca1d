"""
The use cases. Each takes an App (or plain values) and returns data; the CLI renders it.
"""
