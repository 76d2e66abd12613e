"""Compliance: the framework mappings (data), control assessment, evidence packages and their report."""
