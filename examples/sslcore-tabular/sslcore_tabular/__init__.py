"""Example sslcore plugin for tabular rows."""
