"""Signed agent tools: manifests compiled at signing time, run only through the gate."""
