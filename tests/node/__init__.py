"""Tests of the node services (node/)."""
