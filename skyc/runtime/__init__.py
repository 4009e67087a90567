"""Inventory -> running work over SSH."""
