"""Benchmarks behind `gridchain bench`: chain, consensus, sync, VM (and py-evm), farming."""
